"""Output sets: a stage killed between two writes must not leave a mix that readers accept.

`yousaid code` writes coded.parquet and coded.csv, `yousaid report` four files; each set has a
manifest written first as incomplete and last with every file's sha256. The kill is real: a
subprocess SIGKILLs itself right after coded.parquet is renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from pipeline.errors import YousaidError
from pipeline.manifest import REPORT_MANIFEST, check_coded, check_set, coded_manifest, sha256
from pipeline.report.inputs import read_coded
from pipeline.stages import BY_NAME
from pipeline.workspace import load_workspace

# Runs `yousaid code` for one question, killing the process (no cleanup, no finally) as soon
# as the first table of the set is in place.
KILL_AFTER_PARQUET = """
import os, signal, sys
from pipeline.stages import BY_NAME
import pipeline.stages.code as stage
from pipeline.workspace import load_workspace

real = stage.write_table
def write_then_die(frame, path):
    if str(path).endswith(".csv"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(frame, path)
stage.write_table = write_then_die
ws = load_workspace(sys.argv[1])
BY_NAME["code"].run(ws, ws.question("missing"))
"""


def _retrain(ws, version: str) -> None:
    """A different model: the same estimator under another version (as a retrain gives)."""
    meta_path = ws.paths("missing").model_dir / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["model_version"] = version
    meta_path.write_text(json.dumps(meta), encoding="utf-8")


@pytest.fixture
def ws(demo_run, tmp_path):
    """The shared demo run's workspace, copied: comments, embeddings, model, coded set."""
    root = shutil.copytree(demo_run["workdir"], tmp_path / "ws")
    config = yaml.safe_load((root / "consultation.yaml").read_text(encoding="utf-8"))
    config["settings"].setdefault("report", {})["bootstrap"] = 200
    (root / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_workspace(root)


def _versions(path) -> set[str]:
    if path.suffix == ".parquet":
        return set(pd.read_parquet(path)["model_version"])
    return set(pd.read_csv(path, dtype=str)["model_version"])


def test_code_writes_one_set_with_its_manifest(ws):
    q = ws.question("missing")
    paths = ws.paths(q)
    outputs = BY_NAME["code"].run(ws, q).outputs
    assert outputs["coded_manifest"] == paths.coded_manifest == coded_manifest(paths.coded)
    body = json.loads(paths.coded_manifest.read_text(encoding="utf-8"))
    assert body["complete"] and body["stage"] == "code"
    assert body["model_version"] == _versions(paths.coded).pop()
    assert body["written"] and str(ws.root) not in paths.coded_manifest.read_text()
    assert body["files"] == {
        p.name: {"sha256": sha256(p), "bytes": p.stat().st_size}
        for p in (paths.coded, paths.coded_csv)
    }
    assert check_set(paths.coded_manifest) == body


def test_killed_code_run_is_refused_until_a_complete_rerun(ws):
    q = ws.question("missing")
    paths = ws.paths(q)
    book = ws.paths(q).codebook
    from pipeline.codebook import load_codebook

    codebook = load_codebook(book)
    BY_NAME["code"].run(ws, q)
    first = _versions(paths.coded)
    _retrain(ws, "yousaid-retrained")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_PARQUET, str(ws.root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    # the mix the kill left: parquet from the new model, csv from the old one
    assert _versions(paths.coded) == {"yousaid-retrained"}
    assert _versions(paths.coded_csv) == first
    with pytest.raises(YousaidError) as refused:
        read_coded(paths.coded, codebook)
    message = str(refused.value)
    assert "\n" not in message
    assert "coded.parquet" in message and "coded.csv" in message
    assert f"yousaid code --workspace {ws.root} --question missing" in message
    # every reader of the coded set refuses it: the report, label next / push
    with pytest.raises(YousaidError):
        BY_NAME["report"].run(ws, q)
    from pipeline.stages.label import choose, push

    with pytest.raises(YousaidError, match="coded.parquet"):
        choose(ws, q, 5)
    with pytest.raises(YousaidError, match="coded.parquet"):  # before contacting Label Studio
        push(ws, q, url="http://127.0.0.1:9")
    # ... and the command line says so in one line, without a traceback
    cli = subprocess.run(
        [sys.executable, "-m", "pipeline", "report", "--workspace", str(ws.root)]
        + ["--question", "missing"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode != 0
    assert "Traceback" not in cli.stderr and "yousaid code --workspace" in cli.stderr
    # a complete rerun makes it one set again
    BY_NAME["code"].run(ws, q)
    check_coded(paths.coded)
    assert _versions(paths.coded) == _versions(paths.coded_csv) == {"yousaid-retrained"}
    assert len(read_coded(paths.coded, codebook)) == len(pd.read_parquet(paths.comments))


def test_a_table_changed_after_the_run_is_refused(ws):
    paths = ws.paths("missing")
    BY_NAME["code"].run(ws, ws.question("missing"))
    check_coded(paths.coded)
    frame = pd.read_csv(paths.coded_csv, dtype=str)
    frame.loc[0, "model_version"] = "another"
    frame.to_csv(paths.coded_csv, index=False)
    with pytest.raises(YousaidError, match=r"coded\.csv \(changed\)"):
        check_coded(paths.coded)
    paths.coded_csv.unlink()
    with pytest.raises(YousaidError, match=r"coded\.csv \(missing\)"):
        check_coded(paths.coded)


def test_without_a_manifest_the_tables_must_share_a_model_version(ws, monkeypatch):
    """Sets written before manifests existed: the model_version columns decide."""
    q = ws.question("missing")
    paths = ws.paths(q)
    BY_NAME["code"].run(ws, q)
    paths.coded_manifest.unlink()
    check_coded(paths.coded)  # same version in both: accepted
    frame = pd.read_parquet(paths.coded)
    frame["model_version"] = "yousaid-other"
    frame.to_parquet(paths.coded, index=False)
    with pytest.raises(YousaidError) as refused:
        check_coded(paths.coded)
    assert "yousaid-other" in str(refused.value) and "coded.csv" in str(refused.value)
    assert "--question missing" in str(refused.value)
    # a write that fails between the two tables leaves an incomplete manifest, also refused
    import pipeline.stages.code as stage

    real = stage.write_table

    def fail_on_csv(table, path):
        if str(path).endswith(".csv"):
            raise OSError("disk full")
        return real(table, path)

    monkeypatch.setattr(stage, "write_table", fail_on_csv)
    with pytest.raises(OSError):
        BY_NAME["code"].run(ws, q)
    with pytest.raises(YousaidError, match="did not finish"):
        check_coded(paths.coded)


def test_report_set_and_an_interrupted_report(ws, monkeypatch):
    q = ws.question("missing")
    paths = ws.paths(q)
    import pipeline.report.docx as docx

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a Ctrl-C between the workbook and the Word file

    monkeypatch.setattr(docx, "write_docx", killed)
    with pytest.raises(KeyboardInterrupt):
        BY_NAME["report"].run(ws, q)
    monkeypatch.undo()
    assert (paths.reports / "report.html").exists()  # half a set is on disk...
    with pytest.raises(YousaidError, match="did not finish") as refused:
        check_set(paths.reports / REPORT_MANIFEST)
    assert "yousaid report --workspace" in str(refused.value)
    from pipeline.stages.report import write_index

    page = write_index(ws).read_text(encoding="utf-8")  # ... and is not linked
    assert "incomplete" in page and "missing/reports/report.html" not in page

    BY_NAME["report"].run(ws, q)
    body = check_set(paths.reports / REPORT_MANIFEST)
    assert body["stage"] == "report" and body["complete"]
    assert sorted(body["files"]) == sorted(
        [
            "themes.xlsx",
            "report.html",
            "you_said_we_did.docx",
            "you_said_we_did.md",
            "emerging.json",
        ]
    )
    assert body["model_version"] == _versions(paths.coded).pop()
    assert body["sources"] == {"../data/processed/coded.parquet": sha256(paths.coded)}
    assert "missing/reports/report.html" in ws.index.read_text(encoding="utf-8")
