"""Bringing the analysts' answers back: export, append to the history, materialise the labels.

`labels/labelled.csv` is materialised from the history (latest answer per comment wins), so
relabelling in Label Studio changes the next model and nothing is ever lost. Every request to
the server is made before the first file is touched: a server that fails midway leaves the
files as they were.

Each label keeps its stream (`sample`: audit or train) and, for train labels, whether the
annotator changed the suggestion Label Studio showed (`suggestion_changed`): the report needs
the first to correct its counts and the second to warn when suggestions go in unchecked.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.labelled import DEFAULT_SAMPLE, join_labels, stream_summary, suggestion_changed
from pipeline.labelling.agreement import DISAGREEMENT_COLUMNS, agreement
from pipeline.labelling.client import LabelStudioError, api
from pipeline.labelling.history import (
    annotation_records,
    append_jsonl,
    clean_themes,
    current_answers,
    new_records,
    read_annotations,
)
from pipeline.labelling.interface import METADATA
from pipeline.labelling.project import find_project, record_state
from pipeline.safety import unescape_frame
from pipeline.tables import write_table

log = logging.getLogger(__name__)

LS_SOURCE = "label_studio"
LABELLED_FIRST = [
    "id",
    "text",
    "labels",
    "stance",
    "sample",
    "suggestion_changed",
    "explicit_none",
    "note",
    "annotator",
    "annotated_at",
    "n_annotators",
    "source",
    "audit_population",
]


def export_tasks(client: Any, project_id: int) -> list[dict[str, Any]]:
    """Every task with at least one annotation (skips included), as Label Studio exports it."""
    raw = api(
        "export annotations",
        lambda: b"".join(client.projects.exports.download_sync(project_id, export_type="JSON")),
    )
    try:
        tasks = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LabelStudioError(f"Label Studio export was not JSON ({exc})") from None
    if not isinstance(tasks, list):
        raise LabelStudioError("Label Studio export was not a list of tasks")
    return tasks


def annotators(client: Any) -> dict[int, str]:
    """User id -> email (the analyst's login), to name who gave each answer."""
    users = api("list users", lambda: list(client.users.list()))
    return {u.id: (u.email or u.username or str(u.id)) for u in users}


def materialise(
    history: list[dict],
    codebook: Codebook,
    comments: pd.DataFrame,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """labels/labelled.csv: one row per labelled comment, the latest answer winning.

    Columns beside the labels: `sample` (the task's stream), `suggestion_changed` (train only:
    True/False where a suggestion was shown, empty where none was), `explicit_none` ("None of
    these themes" chosen) and `audit_population` (audit only: how many comments it was drawn
    from). Rows of an earlier labelled.csv that did not come from Label Studio (a seed set) are
    kept unless Label Studio has an answer for that comment; without a `sample` they are train.
    """
    answers = current_answers(history)
    unknown: set[str] = set()
    by_comment = (
        comments.assign(id=comments["id"].astype(str)).drop_duplicates("id").set_index("id")
    )
    meta_cols = [c for c in by_comment.columns if c not in ("text", "labels", "stance")]
    rows = []
    if len(answers):
        counts = answers.groupby("comment_id")["annotator"].nunique()
        latest = answers.sort_values("updated_at", kind="stable").drop_duplicates(
            "comment_id", keep="last"
        )
        for a in latest.itertuples():
            if a.comment_id not in by_comment.index:
                log.warning(
                    "comment %s is in Label Studio but not in the comments table: left out",
                    a.comment_id,
                )
                continue
            themes = clean_themes(list(a.themes), codebook, unknown)
            stances = [s for s in a.stances if s.split(":", 1)[0] in themes]
            src = by_comment.loc[a.comment_id]
            train = a.sample == DEFAULT_SAMPLE
            rows.append(
                {
                    "id": a.comment_id,
                    "text": src.get("text", ""),
                    "labels": join_labels(themes),
                    "stance": join_labels(stances),
                    "sample": a.sample,
                    "suggestion_changed": (
                        suggestion_changed(list(a.themes), a.suggested, codebook) if train else None
                    ),
                    "explicit_none": bool(a.none_chosen),
                    "note": a.note,
                    "annotator": a.annotator,
                    "annotated_at": a.updated_at,
                    "n_annotators": int(counts[a.comment_id]),
                    "source": LS_SOURCE,
                    "audit_population": None if train else a.audit_population,
                    **{c: src.get(c) for c in meta_cols if c not in LABELLED_FIRST},
                }
            )
    if unknown:
        log.warning(
            "theme ids no longer in the codebook were dropped: %s", ", ".join(sorted(unknown))
        )
    frame = pd.DataFrame(rows)
    if "audit_population" in frame.columns:
        frame["audit_population"] = frame["audit_population"].astype("Int64")
    if previous is not None and len(previous):
        prev = previous.copy()
        prev["id"] = prev["id"].astype(str)
        if "source" not in prev.columns:
            prev["source"] = "seed"
        prev["source"] = prev["source"].fillna("seed").replace("", "seed")
        if "sample" not in prev.columns:
            prev["sample"] = DEFAULT_SAMPLE
        prev["sample"] = prev["sample"].fillna("").replace("", DEFAULT_SAMPLE)
        keep = prev[(prev["source"] != LS_SOURCE) & ~prev["id"].isin(set(frame.get("id", [])))]
        if len(keep):
            frame = pd.concat([keep, frame], ignore_index=True)
    if frame.empty:
        return frame
    ordered = [c for c in LABELLED_FIRST if c in frame.columns] + [
        c for c in frame.columns if c not in LABELLED_FIRST
    ]
    return frame[ordered].sort_values("id", kind="stable").reset_index(drop=True)


def _comment_source(tasks: list[dict[str, Any]], comments: pd.DataFrame | None) -> pd.DataFrame:
    """Text and metadata per comment: the comments table where it has the comment, else the
    task's own data (a comment labelled before the table was rebuilt)."""
    from_tasks = pd.DataFrame(
        [{k: v for k, v in (t.get("data") or {}).items() if k != "respondent"} for t in tasks]
    )
    source = from_tasks
    if comments is not None and len(comments):
        keep = [
            c for c in comments.columns if c in ("id", "text") or c in METADATA or c == "weight"
        ]
        table = comments[keep].assign(id=comments["id"].astype(str))
        source = pd.concat([table, from_tasks], ignore_index=True) if len(from_tasks) else table
    if "id" not in source.columns:
        source = pd.DataFrame(columns=["id", "text"])
    return source


@dataclass
class PullResult:
    """What a pull found and wrote, for the summary the CLI prints."""

    project_id: int
    tasks_exported: int
    annotations: int
    skipped: int
    appended: int
    labelled: int
    double_coded: int
    agreement: pd.DataFrame
    disagreements: pd.DataFrame
    seconds: float
    written: dict[str, Path] = field(default_factory=dict)
    contradictory: int = 0  # answers with "None of these themes" beside a theme: not labels
    empty: int = 0  # answers with nothing ticked (the API or an old project allowed them)
    streams: dict[str, float | int | None] = field(default_factory=dict)  # stream_summary


def pull(
    client: Any,
    codebook: Codebook,
    *,
    state_path: str | Path | None = None,
    title: str | None = None,
    annotations_path: str | Path,
    labelled_path: str | Path,
    agreement_path: str | Path,
    disagreements_path: str | Path,
    comments: pd.DataFrame | None = None,
) -> PullResult:
    """Export, append new answers to the history, rewrite labelled.csv and the agreement tables.

    The project is the one `state_path` records (as `ensure_project` wrote it); `title` is only
    a fallback for a project pushed before the state file existed, which is then recorded.
    """
    began = time.perf_counter()
    project = find_project(client, state_path=state_path, title=title)
    tasks = export_tasks(client, project.id)
    users = annotators(client)
    records = annotation_records(tasks, users, project.id)
    history = read_annotations(annotations_path)
    fresh = new_records(history, records, pd.Timestamp.now(tz="UTC").isoformat())
    full = history + fresh

    previous = None
    if Path(labelled_path).exists():
        previous = unescape_frame(pd.read_csv(labelled_path, dtype=str, keep_default_na=False))
    labelled = materialise(full, codebook, _comment_source(tasks, comments), previous)
    per_theme, disagreements = agreement(full, codebook)
    current = current_answers(full, contradictory=True)
    conflicts = current[current["contradictory"]]
    if len(conflicts):
        listed = _contradictions(conflicts)
        disagreements = (
            listed if disagreements.empty else pd.concat([disagreements, listed], ignore_index=True)
        )
        log.warning(
            "%d answer(s) tick 'None of these themes' beside a theme and are not labels until "
            "fixed in Label Studio: %s",
            len(conflicts),
            ", ".join(sorted(set(conflicts["comment_id"]))[:10]),
        )
    empty = current[
        ~current["contradictory"]
        & ~current["none_chosen"].astype(bool)
        & current["themes"].map(lambda t: len(t) == 0)
    ]
    if len(empty):
        log.warning(
            "%d answer(s) have nothing ticked (not 'None of these themes'): read as no theme",
            len(empty),
        )
    _warn_unblind(full)

    written: dict[str, Path] = {}
    if record_state(state_path, project):
        written["state"] = Path(state_path)  # type: ignore[arg-type]
    if fresh:
        written["annotations"] = append_jsonl(annotations_path, fresh)
    if len(labelled):
        written["labelled"] = write_table(labelled, labelled_path)
    else:
        log.warning("no completed annotations yet: %s not written", labelled_path)
    written["agreement"] = write_table(per_theme, agreement_path)
    written["disagreements"] = write_table(disagreements, disagreements_path)
    answers = [r for r in records if not r["was_cancelled"]]
    from_ls = labelled.get("source", pd.Series(dtype=str)) == LS_SOURCE
    return PullResult(
        project_id=project.id,
        tasks_exported=len(tasks),
        annotations=len(answers),
        skipped=len(records) - len(answers),
        appended=len(fresh),
        labelled=int(from_ls.sum()) if len(labelled) else 0,
        double_coded=int(per_theme["comments"].iloc[0]) if len(per_theme) else 0,
        agreement=per_theme,
        disagreements=disagreements,
        seconds=time.perf_counter() - began,
        written=written,
        contradictory=len(conflicts),
        empty=len(empty),
        streams=stream_summary(_flags(labelled)),
    )


def _flags(labelled: pd.DataFrame) -> pd.DataFrame:
    """labelled.csv's suggestion_changed as booleans (a seed file may hold it as text)."""
    out = labelled.copy()
    if "suggestion_changed" in out.columns:
        text = out["suggestion_changed"].map(lambda v: str(v).strip().lower())
        out["suggestion_changed"] = pd.array(
            [True if t == "true" else False if t == "false" else pd.NA for t in text],
            dtype="boolean",
        )
    return out


def _contradictions(conflicts: pd.DataFrame) -> pd.DataFrame:
    """One disagreements row per contradictory answer: the annotator disagrees with themself."""
    return pd.DataFrame(
        [
            {
                "comment_id": a.comment_id,
                "theme_id": join_labels(list(a.themes)),
                "kind": "none_and_theme",
                "said_yes": a.annotator,
                "said_no": a.annotator,
                "stances": "",
            }
            for a in conflicts.itertuples()
        ],
        columns=DISAGREEMENT_COLUMNS,
    )


def _warn_unblind(history: list[dict]) -> None:
    """An audit answer submitted while a suggestion was on screen is not blind: say which."""
    seen = sorted(
        {
            str(r.get("comment_id"))
            for r in history
            if r.get("sample") == "audit" and r.get("suggested") is not None
        }
    )
    if seen:
        log.warning(
            "%d audit comment(s) were answered with a model suggestion on screen (not blind): %s",
            len(seen),
            ", ".join(seen[:10]),
        )
