"""Add the demo's blind random AUDIT labels (SYNTHETIC, like everything in this folder).

Run once from the repository root: `.venv/bin/python examples/policing/export/make_audit_labels.py`.
It is idempotent: audit labels already present are replaced by the same draw.

- `missing`: 80 comments drawn with `pipeline.select.audit_sample` (seed 42) from the substantive
  comments that have no label in `missing/labels/label_studio_export_demo.json`, added to that
  export as Label Studio tasks of stream `audit` (no predictions; "None of these themes" where
  the gold has no theme), coded from `gold.csv` with about 5% human slips; then
  `missing/labels/labelled.csv` is rebuilt from the export as before
  (`read_labelled(export).drop(columns="source_row").to_csv(index=False)`).
- `feel_safer`: 40 answers drawn the same way from those not in `feel_safer/labels/labelled.csv`,
  coded from `gold_feel_safer.csv` with about 5% slips, appended with `sample = audit`; the rows
  already there become `sample = train`.

The train labels keep their data. Why the slips: a hand label is not the gold, and an audit
that agreed with the gold perfectly would flatter the report's intervals.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from pipeline.codebook import Codebook, load_codebook  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402
from pipeline.labelled import NONE_CHOICE, read_labelled, split_labels  # noqa: E402
from pipeline.labelling.interface import HINTS  # noqa: E402
from pipeline.select import audit_sample  # noqa: E402
from pipeline.stages.ingest import column_map  # noqa: E402
from pipeline.workspace import load_workspace  # noqa: E402

DEMO = ROOT / "examples" / "policing"
SEED = 42
SLIP_SHARE = 0.05
META = ["route", "age_band", "gender", "ethnicity", "borough", "inner_outer"]
# Themes a coder plausibly adds by mistake next to a given one (a neighbouring theme).
NEAR = {
    "missing": {
        "misconduct_accountability": "engagement_relationships",
        "officers_visibility": "engagement_relationships",
        "station_closures": "engagement_relationships",
        "engagement_relationships": "misconduct_accountability",
        "third_sector_services": "societal_standards_cohesion",
        "volume_crime": "antisocial_behaviour",
        "roads_antisocial_driving": "antisocial_behaviour",
        "vawg": "specific_groups",
        "societal_standards_cohesion": "third_sector_services",
        "antisocial_behaviour": "officers_visibility",
        "drugs": "antisocial_behaviour",
        "specific_groups": "engagement_relationships",
    },
    "feel_safer": {
        "visible_patrols": "response_reporting",
        "lighting_cctv": "visible_patrols",
        "response_reporting": "visible_patrols",
        "youth_provision": "community_neighbours",
        "transport_night": "visible_patrols",
        "drugs_dealing": "visible_patrols",
        "community_neighbours": "youth_provision",
    },
}


def comments_for(question: str) -> pd.DataFrame:
    """The question's comments table as `yousaid ingest` builds it (substantive flag included)."""
    ws = load_workspace(DEMO)
    q = ws.question(question)
    keep = [*ws.respondent_columns, "weight"]
    return ingest(ws.inputs, columns=column_map(ws, q), keep=keep).comments


def slipped(themes: list[str], book: Codebook, near: dict[str, str], rng) -> list[str]:
    """One human slip: a second theme left off, or a neighbouring theme added."""
    parents = {book.by_id[t].group for t in themes if book.by_id[t].group}
    droppable = [t for t in themes if t not in parents]
    addable = [near[t] for t in themes if near[t] not in themes]
    if len(themes) >= 2 and (rng.random() < 0.6 or not addable):
        gone = droppable[int(rng.integers(len(droppable)))]
        return [t for t in themes if t != gone]
    return book.with_parents([*themes, addable[int(rng.integers(len(addable)))]])


def coded(gold: pd.DataFrame, ids: list[str], book: Codebook, near: dict[str, str]) -> dict:
    """Gold codes for `ids`, with SLIP_SHARE of the coded ones slipped: id -> themes."""
    rng = np.random.default_rng([SEED, 1])
    truth = {i: book.with_parents(split_labels(gold.at[i, "labels"])) for i in ids}
    coded_ids = [i for i in ids if truth[i]]
    k = max(1, round(SLIP_SHARE * len(ids)))
    for i in rng.choice(coded_ids, size=k, replace=False):
        truth[str(i)] = slipped(truth[str(i)], book, near, rng)
    return truth


def _uid(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8]


def missing() -> tuple[int, int]:
    book = load_codebook(DEMO / "missing" / "codebook.yaml")
    export = DEMO / "missing" / "labels" / "label_studio_export_demo.json"
    tasks = [
        t
        for t in json.loads(export.read_text(encoding="utf-8"))
        if (t.get("data") or {}).get("sample") != "audit"
    ]
    comments = comments_for("missing")
    done = [str(t["data"]["id"]) for t in tasks]
    draw = audit_sample(comments, 80, done, seed=SEED)
    picked = comments.iloc[draw.rows]
    gold = pd.read_csv(DEMO / "export" / "gold.csv", dtype=str, keep_default_na=False)
    gold = gold.set_index("id")
    ids = picked["id"].astype(str).tolist()
    labels = coded(gold, ids, book, NEAR["missing"])
    rng = np.random.default_rng([SEED, 2])
    task_id = max(t["id"] for t in tasks)
    ann_id = max(a["id"] for t in tasks for a in t["annotations"])
    inner = max(t["inner_id"] for t in tasks)
    when = pd.Timestamp("2021-03-15T09:30:00Z")
    for row in picked.itertuples():
        task_id, ann_id, inner = task_id + 1, ann_id + 1, inner + 1
        when += pd.Timedelta(minutes=int(rng.integers(2, 9)))
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        themes = labels[row.id]
        result = [
            {
                "id": f"t{_uid(row.id, 'themes')}",
                "from_name": "themes",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
                "value": {"choices": themes or [NONE_CHOICE]},
            }
        ]
        stance = gold.at[row.id, "stance"]
        if "drugs" in themes and stance:
            result.append(
                {
                    "id": f"s{_uid(row.id, 'stance')}",
                    "from_name": "stance_drugs",
                    "to_name": "text",
                    "type": "choices",
                    "origin": "manual",
                    "value": {"choices": [stance.split(":", 1)[1]]},
                }
            )
        weight = None if pd.isna(row.weight) else float(row.weight)
        data = {
            "id": row.id,
            **{c: getattr(row, c) for c in META},
            "weight": weight,
            "text": row.text_original,
            "sample": "audit",
            "audit_population": draw.population,
            "hint": HINTS["audit"],
        }
        who = 1 if rng.random() < 0.7 else 2
        tasks.append(
            {
                "id": task_id,
                "data": data,
                "annotations": [
                    {
                        "id": ann_id,
                        "completed_by": {
                            "id": who,
                            "email": f"analyst.{'a' if who == 1 else 'b'}@mopac.example",
                        },
                        "result": result,
                        "was_cancelled": False,
                        "ground_truth": False,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "lead_time": round(float(rng.uniform(20, 120)), 1),
                        "prediction": {},
                    }
                ],
                "predictions": [],
                "meta": {},
                "project": 1,
                "created_at": "2021-03-12T10:00:00.000000Z",
                "updated_at": stamp,
                "inner_id": inner,
                "total_annotations": 1,
                "cancelled_annotations": 0,
                "total_predictions": 0,
            }
        )
    text = json.dumps(tasks, indent=1, ensure_ascii=False) + "\n"
    export.write_text(text, encoding="utf-8")
    table = read_labelled(export, book).drop(columns="source_row")
    table.to_csv(DEMO / "missing" / "labels" / "labelled.csv", index=False)
    return len(ids), draw.population


def feel_safer() -> tuple[int, int]:
    book = load_codebook(DEMO / "feel_safer" / "codebook.yaml")
    path = DEMO / "feel_safer" / "labels" / "labelled.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "sample" in table.columns:
        table = table[table["sample"] != "audit"]
    table = table.drop(columns=["sample", "audit_population"], errors="ignore")
    comments = comments_for("feel_safer")
    draw = audit_sample(comments, 40, table["id"], seed=SEED)
    picked = comments.iloc[draw.rows]
    gold = pd.read_csv(DEMO / "export" / "gold_feel_safer.csv", dtype=str, keep_default_na=False)
    ids = picked["id"].astype(str).tolist()
    labels = coded(gold.set_index("id"), ids, book, NEAR["feel_safer"])
    raw = pd.read_csv(DEMO / "export" / "comments.csv", dtype=str, keep_default_na=False)
    raw = raw.set_index("id")
    new = pd.DataFrame(
        {
            "id": ids,
            "text": picked["text_original"].tolist(),
            "labels": ["|".join(labels[i]) for i in ids],
            **{c: raw.loc[ids, c].tolist() for c in [*META, "weight"]},
        }
    )
    table = table.assign(sample="train", audit_population="")
    new = new.assign(sample="audit", audit_population=str(draw.population))
    out = pd.concat([table, new[table.columns]], ignore_index=True)
    first = ["id", "text", "labels", "sample"]
    out = out[first + [c for c in out.columns if c not in first]]
    out.sort_values("id", kind="stable").to_csv(path, index=False)
    return len(ids), draw.population


if __name__ == "__main__":
    for name, make in (("missing", missing), ("feel_safer", feel_safer)):
        n, population = make()
        print(f"{name}: {n} audit labels drawn from {population} comments")
