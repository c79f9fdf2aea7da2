"""The append-only history of every answer pulled from Label Studio (labels/annotations.jsonl).

Each annotator, each edit and each skip is one record; nothing is ever removed, so relabelling
in Label Studio changes the next model while the earlier answer stays on file. Readers take the
latest version of each answer from it (`current_answers`).

Each record also keeps the task's stream (`sample`), the themes of the suggestion Label Studio
showed with it (`suggested`, None when none was shown), whether "None of these themes" was
chosen (`none_chosen`) and whether it was ticked beside a theme (`contradictory`). These are not
part of a record's fingerprint (RECORD_KEYS), so histories written before them are not
re-appended; their records read as train answers with no suggestion shown.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import InputError
from pipeline.labelled import DEFAULT_SAMPLE, annotation_fields, shown_suggestion
from pipeline.tables import write_atomic

log = logging.getLogger(__name__)

RECORD_KEYS = (
    "comment_id",
    "themes",
    "stances",
    "note",
    "annotator",
    "annotator_id",
    "was_cancelled",
    "created_at",
    "updated_at",
    "lead_time",
    "task_id",
    "annotation_id",
    "project_id",
    "prediction_model_version",
)


def annotation_records(
    tasks: Iterable[dict[str, Any]], users: dict[int, str], project_id: int
) -> list[dict]:
    """One flat record per annotation: who said which themes and stances, when, on which comment.

    `was_cancelled` marks a skipped task (Label Studio stores a skip as a cancelled annotation).
    """
    records = []
    for task in tasks:
        data = task.get("data") or {}
        comment_id = str(data.get("id", ""))
        if not comment_id:
            log.warning("task %s has no data.id: not a yousaid task, ignored", task.get("id"))
            continue
        for ann in task.get("annotations") or []:
            fields = annotation_fields(ann.get("result") or [])
            who = ann.get("completed_by")
            who_id = who.get("id") if isinstance(who, dict) else who
            records.append(
                {
                    "comment_id": comment_id,
                    "themes": list(fields["themes"]),
                    "stances": list(fields["stances"]),
                    "note": fields["note"],
                    "annotator": users.get(who_id, str(who_id)),
                    "annotator_id": who_id,
                    "was_cancelled": bool(ann.get("was_cancelled")),
                    "created_at": ann.get("created_at"),
                    "updated_at": ann.get("updated_at") or ann.get("created_at"),
                    "lead_time": ann.get("lead_time"),
                    "task_id": task.get("id"),
                    "annotation_id": ann.get("id"),
                    "project_id": project_id,
                    "prediction_model_version": (ann.get("prediction") or {}).get("model_version"),
                    "sample": str(data.get("sample") or DEFAULT_SAMPLE),
                    "audit_population": data.get("audit_population"),
                    "suggested": shown_suggestion(ann),
                    "none_chosen": bool(fields["none"]),
                    "contradictory": bool(fields["none"]) and bool(fields["themes"]),
                }
            )
    return records


def _fingerprint(record: dict) -> str:
    """Same annotation, same content, same edit time: the same history entry."""
    core = {k: record.get(k) for k in RECORD_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()


def read_annotations(path: str | Path) -> list[dict]:
    """Every record in the history file, oldest first ([] when there is none yet)."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"not valid JSON ({exc.msg})", row=n) from None
    return out


def new_records(history: list[dict], records: list[dict], pulled_at: str) -> list[dict]:
    """Records not already in the history, stamped with when they were pulled."""
    seen = {_fingerprint(r) for r in history}
    fresh = []
    for r in records:
        fp = _fingerprint(r)
        if fp not in seen:
            seen.add(fp)
            fresh.append({**r, "pulled_at": pulled_at})
    return fresh


def append_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Append by rewriting atomically: a crash never leaves half a line in the history."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    return write_atomic(path, lambda p: p.write_bytes(old + lines.encode("utf-8")))


# Fields added after the first histories were written, and what an older record means by them.
LATER_FIELDS = {
    "sample": DEFAULT_SAMPLE,
    "audit_population": None,
    "suggested": None,
    "none_chosen": False,
    "contradictory": False,
}


def current_answers(history: list[dict], contradictory: bool = False) -> pd.DataFrame:
    """The latest version of every annotation, skips dropped: one row per (comment, annotator).

    An answer whose latest version ticks "None of these themes" beside a theme is no label
    (left out unless `contradictory=True`): the annotator's earlier version is not used either.
    """
    cols = [
        "comment_id",
        "annotator",
        "themes",
        "stances",
        "note",
        "updated_at",
        "annotation_id",
        "was_cancelled",
        *LATER_FIELDS,
    ]
    if not history:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame([{**LATER_FIELDS, **r} for r in history])
    frame["_order"] = range(len(frame))
    frame = frame.sort_values(["updated_at", "_order"], kind="stable")
    frame = frame.drop_duplicates("annotation_id", keep="last")
    frame = frame[~frame["was_cancelled"].astype(bool)]
    # One answer per annotator per comment: their latest (an annotator may submit twice).
    frame = frame.drop_duplicates(["comment_id", "annotator"], keep="last")
    frame["contradictory"] = frame["contradictory"].fillna(False).astype(bool)
    if not contradictory:
        frame = frame[~frame["contradictory"]]
    return frame[cols].reset_index(drop=True)


def clean_themes(themes: list[str], codebook: Codebook, unknown: set[str]) -> list[str]:
    """Theme ids the codebook still has, with their parents; retired ids go into `unknown`
    (the history keeps them, the outputs do not)."""
    known = [t for t in themes if t in codebook.by_id]
    unknown.update(t for t in themes if t not in codebook.by_id)
    return codebook.with_parents(known)
