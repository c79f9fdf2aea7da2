"""Hand-labelled data in either contract form: a table with a `labels` column, or a Label Studio
JSON export. Both come out as one tidy frame: id, text, labels (|-joined ids), stance, metadata.

Label Studio convention (shared with `pipeline.labelling.interface`): the theme choices are named
`themes` and store theme ids (the choice alias), stance choices are named `stance_<theme_id>`
and store stance ids, and the free-text note is `note`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import InputError
from pipeline.tables import read_raw

log = logging.getLogger(__name__)

THEMES_FROM = "themes"
STANCE_PREFIX = "stance_"
NOTE_FROM = "note"


def split_labels(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [p.strip() for p in str(value).split("|") if p.strip()]


def join_labels(ids: list[str]) -> str:
    return "|".join(ids)


def annotation_fields(result: list[dict]) -> dict[str, object]:
    """Themes, stances and note out of one Label Studio annotation's `result` list."""
    themes: list[str] = []
    stances: list[str] = []
    note = ""
    for item in result or []:
        name = item.get("from_name", "")
        value = item.get("value", {})
        if name == THEMES_FROM:
            themes.extend(value.get("choices", []))
        elif name.startswith(STANCE_PREFIX):
            theme = name[len(STANCE_PREFIX) :]
            stances.extend(f"{theme}:{c}" for c in value.get("choices", []))
        elif name == NOTE_FROM:
            note = " ".join(value.get("text", []))
    return {"themes": themes, "stances": stances, "note": note}


def _from_label_studio(path: Path) -> pd.DataFrame:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"not a Label Studio JSON export ({exc})") from exc
    if not isinstance(tasks, list):
        raise InputError(str(path), "expected a JSON list of tasks (Label Studio 'JSON' export)")
    rows = []
    for n, task in enumerate(tasks, start=1):
        data = task.get("data", {})
        if "id" not in data or "text" not in data:
            raise InputError(str(path), "task data needs 'id' and 'text'", row=n, column="data")
        answers = [
            a
            for a in task.get("annotations", [])
            if not a.get("was_cancelled") and a.get("result") is not None
        ]
        if not answers:
            continue  # not labelled yet (or only skipped): no label, not "no theme"
        latest = max(
            answers,
            key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id", 0)),
        )
        fields = annotation_fields(latest["result"])
        meta = {k: v for k, v in data.items() if k not in ("id", "text")}
        rows.append(
            {
                "id": str(data["id"]),
                "text": str(data["text"]),
                "labels": join_labels(fields["themes"]),
                "stance": join_labels(fields["stances"]),
                "source_row": n,
                **meta,
            }
        )
    return pd.DataFrame(rows)


def read_labelled(path: str | Path, codebook: Codebook) -> pd.DataFrame:
    """Labelled comments, validated against the codebook; sub-themes imply their parents."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        frame = _from_label_studio(path)
        if frame.empty:
            raise InputError(str(path), "no completed annotations in the export")
    else:
        raw = read_raw(path)
        frame = raw.frame.copy()
        frame.columns = [
            c.strip().lower() if c.strip().lower() in ("id", "text", "labels") else c
            for c in frame.columns
        ]
        for col in ("id", "text", "labels"):
            if col not in frame.columns:
                raise InputError(
                    str(path), f"required column '{col}' is missing", row=1, column=col
                )
        frame["source_row"] = raw.rows
        frame["stance"] = frame.get("stance", "")
    frame["id"] = frame["id"].astype(str).str.strip()

    known = set(codebook.ids)
    unknown: dict[str, list[int]] = {}
    for row, value in zip(frame["source_row"], frame["labels"], strict=True):
        for tid in split_labels(value):
            if tid not in known:
                unknown.setdefault(tid, []).append(int(row))
    if unknown:
        listed = "; ".join(
            f"'{t}' (rows {', '.join(map(str, r[:5]))}{'...' if len(r) > 5 else ''})"
            for t, r in unknown.items()
        )
        first = min(min(r) for r in unknown.values())
        raise InputError(
            str(path), f"theme ids not in the codebook: {listed}", row=first, column="labels"
        )

    frame["labels"] = frame["labels"].map(
        lambda v: join_labels(codebook.with_parents(split_labels(v)))
    )
    dupes = frame["id"].duplicated(keep="last")
    if dupes.any():
        conflicting = (
            frame[frame["id"].isin(frame.loc[dupes, "id"])].groupby("id")["labels"].nunique()
        )
        n_conf = int((conflicting > 1).sum())
        log.warning(
            "%s: %d ids appear more than once (%d with conflicting labels); the latest row wins",
            path,
            int(dupes.sum()),
            n_conf,
        )
        frame = frame[~dupes]
    if frame["labels"].eq("").all():
        raise InputError(
            str(path), "every comment has empty labels: nothing to learn from", column="labels"
        )
    return frame.reset_index(drop=True)


def label_matrix(labels: pd.Series, theme_ids: list[str]):
    """0/1 matrix (n_comments x n_themes) from |-joined labels, columns in `theme_ids` order."""
    import numpy as np

    index = {t: j for j, t in enumerate(theme_ids)}
    y = np.zeros((len(labels), len(theme_ids)), dtype=np.int8)
    for i, value in enumerate(labels):
        for tid in split_labels(value):
            if tid in index:
                y[i, index[tid]] = 1
    return y
