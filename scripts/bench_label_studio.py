"""Time the Label Studio round trip on the demo: server start (first and warm), push, pull.

    .venv/bin/python scripts/bench_label_studio.py [--n 200] [--workdir /tmp/yousaid-ls-bench]

Starts its own server on a free port in a fresh data dir (so the first start pays the migrations),
pushes N demo comments with pre-annotations, answers them through the API from examples/policing/export/gold.csv
as two analysts would (10% double-coded), pulls, re-pushes and pulls again, then stops the server.
Prints one JSON object of timings (seconds) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import labelling as ls
from pipeline.codebook import load_codebook
from pipeline.columns import prob_col
from pipeline.ingest import ingest

REPO = Path(__file__).resolve().parent.parent
TOKEN = "yousaid-bench-token-1b2c3d4e5f"


def timed(results: dict, key: str, fn, *args, **kwargs):
    began = time.perf_counter()
    out = fn(*args, **kwargs)
    results[key] = round(time.perf_counter() - began, 2)
    return out


def start(data_dir: Path) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_USERNAME="bench@example.org",
        LABEL_STUDIO_PASSWORD="bench-password-not-real",
        LABEL_STUDIO_USER_TOKEN=TOKEN,
        XDG_CONFIG_HOME=str(data_dir.parent / "config"),
    )
    began = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "label-studio"),
            "start",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip().splitlines()[-1], time.perf_counter() - began


def stop(data_dir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "label-studio"),
            "stop",
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
    )


def result(themes: list[str], stance: str) -> list[dict]:
    out = [
        {"from_name": "themes", "to_name": "text", "type": "choices", "value": {"choices": themes}}
    ]
    for s in filter(None, stance.split("|")):
        theme, value = s.split(":", 1)
        out.append(
            {
                "from_name": f"stance_{theme}",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [value]},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/yousaid-ls-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = args.workdir / "ls-data"
    labels = args.workdir / "labels"
    t: dict[str, float | int] = {"n": args.n}

    url, t["first_start_s"] = start(data_dir)
    stop(data_dir)
    url, t["warm_start_s"] = start(data_dir)
    try:
        cb = load_codebook(REPO / "examples" / "policing" / "missing" / "codebook.yaml")
        comments = ingest([REPO / "examples" / "policing" / "export" / "comments.csv"]).comments
        gold = pd.read_csv(
            REPO / "examples" / "policing" / "export" / "gold.csv",
            dtype=str,
            keep_default_na=False,
        )
        gold = gold.set_index("id")
        chosen = comments.loc[comments["substantive"], "id"].head(args.n).tolist()
        rng = np.random.default_rng(0)
        coded = comments[["id"]].copy()
        for tid in cb.ids:
            coded[prob_col(tid)] = rng.uniform(0, 1, len(coded)).round(3)
        coded["model_version"] = "bench-1"
        preds = ls.predictions_from_coded(coded, cb)
        meta = ls.metadata_columns(comments)

        client = timed(t, "connect_s", ls.connect, ls.Connection(url, TOKEN))
        project = timed(
            t,
            "project_create_s",
            ls.ensure_project,
            client,
            ls.project_title("bench", "missing"),
            ls.label_config(cb, meta),
            state_path=labels / "label_studio.json",
        )
        res = timed(t, "push_s", ls.push, client, project, comments, chosen, preds, "bench-1", meta)
        t["tasks_created"], t["predictions"] = res.tasks_created, res.predictions_imported

        second = client.users.create(
            username="second", email="second@example.org", password="x-not-real-1"
        )
        tasks = ls.project_tasks(client, project.id).set_index("comment_id")["task_id"]

        def annotate():
            for k, cid in enumerate(chosen):
                g = gold.loc[cid]
                body = result(g["labels"].split("|") if g["labels"] else [], g["stance"])
                client.annotations.create(int(tasks[cid]), result=body)
                if k % 10 == 0:  # a second analyst double-codes 10%
                    client.annotations.create(
                        int(tasks[cid]), result=body[:1], completed_by=second.id
                    )

        timed(t, "annotate_via_api_s", annotate)
        paths = {
            "annotations_path": labels / "annotations.jsonl",
            "labelled_path": labels / "labelled.csv",
            "agreement_path": labels / "agreement.csv",
            "disagreements_path": labels / "disagreements.csv",
            "state_path": labels / "label_studio.json",
        }
        out = timed(t, "pull_s", ls.pull, client, cb, comments=comments, **paths)
        t["annotations_pulled"], t["labelled"] = out.annotations, out.labelled
        again = timed(
            t, "repush_same_s", ls.push, client, project, comments, chosen, preds, "bench-1", meta
        )
        t["repush_created"] = again.tasks_created
        out = timed(t, "pull_again_s", ls.pull, client, cb, comments=comments, **paths)
        t["pull_again_appended"] = out.appended
    finally:
        stop(data_dir)
    print(json.dumps(t, indent=1))


if __name__ == "__main__":
    main()
