"""Sending comments to Label Studio: tasks keyed by comment id, with the model's suggestions.

Why it looks like this:
- Two streams, named in each task's `data.sample`: `train` tasks (chosen by the model) get its
  suggestions; `audit` tasks (a blind simple random sample, the only labels that can measure the
  model's error) never get a prediction, on this push or any later one that refreshes them.
- A task's `data.id` is its comment id, and what is already in the project is read from the
  server, so a re-push never duplicates a task and never re-sends a labelled comment.
- Listing, importing and attaching predictions run under an exclusive lock beside the
  project's state file: two pushes on one machine take turns instead of both importing the
  same comments.
- Pushes from two machines cannot share a lock, so every push also checks the server: where a
  comment id has several tasks, the later ones that nobody has answered are deleted (the lowest
  task id is kept, so both machines make the same choice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.columns import code_col, prob_col
from pipeline.errors import InputError
from pipeline.labelled import DEFAULT_SAMPLE, THEMES_FROM
from pipeline.labelling.client import api, api_or_none
from pipeline.labelling.interface import HINTS, task_data
from pipeline.labelling.project import Project, project_lock, project_tasks

log = logging.getLogger(__name__)

IMPORT_BATCH = 500


def predictions_from_coded(coded: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Pre-annotations from `yousaid code` output: predicted theme ids and a confidence score.

    The score is the model's confidence in its least certain theme decision (p for a theme it
    coded, 1-p for one it did not), so sorting tasks by score ascending puts the comments the
    model is least sure of first.
    """
    ids = [t for t in codebook.ids if prob_col(t) in coded.columns]
    if not ids:
        raise InputError("coded table", "no prob_<theme_id> columns for this codebook's themes")
    probs = coded[[prob_col(t) for t in ids]].to_numpy(dtype=float)
    if all(code_col(t) in coded.columns for t in ids):
        codes = coded[[code_col(t) for t in ids]].to_numpy(dtype=float) > 0.5
    else:
        codes = probs >= 0.5
    confidence = np.where(codes, probs, 1 - probs).min(axis=1)
    themes = [[t for t, c in zip(ids, row, strict=True) if c] for row in codes]
    return pd.DataFrame(
        {"themes": themes, "score": np.round(confidence, 4)},
        index=pd.Index(coded["id"].astype(str), name="id"),
    )


def prediction_result(themes: Sequence[str]) -> list[dict[str, Any]]:
    """A prediction's `result` in the interface's terms (no themes: an empty suggestion)."""
    if not themes:
        return []
    return [
        {
            "from_name": THEMES_FROM,
            "to_name": "text",
            "type": "choices",
            "value": {"choices": list(themes)},
        }
    ]


def duplicate_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    """Tasks that repeat a comment id and may go: not the lowest task id, and unanswered
    (no annotation, no skip). Answered duplicates stay: an analyst's work is never deleted."""
    tasks = tasks[tasks["comment_id"] != ""].sort_values("task_id", kind="stable")
    later = tasks["comment_id"].duplicated(keep="first")
    unanswered = (tasks["annotations"] == 0) & (tasks["cancelled"] == 0)
    return tasks[later & unanswered]


def remove_duplicates(client: Any, project_id: int, tasks: pd.DataFrame) -> pd.DataFrame:
    """Delete the duplicate tasks the listing shows; return the listing without them.

    Another push may delete the same task first: a task that is already gone counts as removed.
    """
    extra = duplicate_tasks(tasks)
    for task_id in extra["task_id"]:
        api_or_none("delete a duplicate task", client.tasks.delete, int(task_id))
    if len(extra):
        log.warning(
            "removed %d duplicate task(s) from project %d (comments pushed twice at once)",
            len(extra),
            project_id,
        )
    kept = tasks[~tasks["task_id"].isin(extra["task_id"])]
    answered = kept.loc[kept["comment_id"] != "", "comment_id"].duplicated(keep=False)
    if answered.any():
        log.warning(
            "project %d: %d comment(s) have several answered tasks; their answers are all pulled",
            project_id,
            kept.loc[answered[answered].index, "comment_id"].nunique(),
        )
    return kept


@dataclass
class PushResult:
    """What a push did, for the one-line summary the CLI prints."""

    project_id: int
    project_created: bool
    tasks_created: int
    already_in_project: int
    predictions_imported: int
    model_version: str | None
    seconds: float
    comment_ids: list[str] = field(default_factory=list)
    duplicates_removed: int = 0
    sample: str = DEFAULT_SAMPLE
    tasks_updated: int = 0


def push(
    client: Any,
    project: Project,
    comments: pd.DataFrame,
    chosen_ids: Sequence[str],
    predictions: pd.DataFrame | None = None,
    model_version: str | None = None,
    metadata: Sequence[str] = (),
    sample: str = DEFAULT_SAMPLE,
    extra: dict[str, Any] | None = None,
) -> PushResult:
    """Import the chosen comments as tasks of stream `sample` (skipping any already there).

    Unannotated train tasks already in the project get the new model's predictions too, so a
    push after retraining refreshes the suggestions and the order by score; audit tasks never
    get one, and `predictions` are refused for an audit push. `extra` goes into each new task's
    data (e.g. the audit's population size). Tasks from before streams existed get their
    `sample` and hint filled in. The whole push holds the project's lock (beside
    `project.state_path`), and ends by removing unanswered duplicates.
    """
    if sample != DEFAULT_SAMPLE and predictions is not None:
        raise ValueError(f"{sample} tasks are pushed without predictions")
    began = time.perf_counter()
    by_id = (
        comments.assign(id=comments["id"].astype(str))
        .drop_duplicates("id")
        .set_index("id", drop=False)
    )
    wanted = list(dict.fromkeys(map(str, chosen_ids)))
    missing = [i for i in wanted if i not in by_id.index]
    if missing:
        raise InputError(
            "comments", f"{len(missing)} chosen ids are not in the comments table: {missing[:5]}"
        )
    with project_lock(project.state_path, f"{project.url} push {project.id}"):
        existing = project_tasks(client, project.id)
        in_project = set(existing["comment_id"])
        new = [i for i in wanted if i not in in_project]
        payload = task_data(by_id.loc[new], metadata, sample, extra)
        for start in range(0, len(payload), IMPORT_BATCH):
            batch = payload[start : start + IMPORT_BATCH]
            api(
                "import tasks",
                client.projects.import_tasks,
                project.id,
                request=[{"data": d} for d in batch],
            )
        if new:
            existing = project_tasks(client, project.id)
        before = len(existing)
        existing = remove_duplicates(client, project.id, existing)
        updated = _fill_streams(client, existing)
        n_pred = _push_predictions(client, project, existing, predictions, model_version)
    return PushResult(
        project_id=project.id,
        project_created=project.created,
        tasks_created=len(new),
        already_in_project=len(wanted) - len(new),
        predictions_imported=n_pred,
        model_version=model_version if predictions is not None else None,
        seconds=time.perf_counter() - began,
        comment_ids=new,
        duplicates_removed=before - len(existing),
        sample=sample,
        tasks_updated=updated,
    )


def _fill_streams(client: Any, existing: pd.DataFrame) -> int:
    """Give tasks pushed before streams existed their `sample` (train) and hint line, which the
    interface shows; their labels and predictions are untouched."""
    old = existing[existing["data"].map(lambda d: "hint" not in d or "sample" not in d)]
    for row in old.itertuples():
        stream = row.sample if row.sample in HINTS else DEFAULT_SAMPLE
        data = {**row.data, "sample": stream, "hint": HINTS[stream]}
        api("add the stream to a task", client.tasks.update, int(row.task_id), data=data)
    if len(old):
        log.info("added the stream and hint to %d task(s) pushed before streams", len(old))
    return len(old)


def _push_predictions(
    client: Any,
    project: Project,
    existing: pd.DataFrame,
    predictions: pd.DataFrame | None,
    model_version: str | None,
) -> int:
    """Attach this model's suggestions to every unanswered train task that lacks them (never to
    an audit task); make it the project's model version (score filters and ordering only use
    that version's predictions, and it is the version the labelling screen shows)."""
    if predictions is None or not model_version:
        return 0
    todo = existing[
        (existing["annotations"] == 0)
        & (existing["sample"] == DEFAULT_SAMPLE)
        & existing["comment_id"].isin(predictions.index)
        & existing["model_versions"].map(lambda v: model_version not in v)
    ]
    request = [
        {
            "task": int(row.task_id),
            "result": prediction_result(predictions.at[row.comment_id, "themes"]),
            "score": float(predictions.at[row.comment_id, "score"]),
            "model_version": model_version,
        }
        for row in todo.itertuples()
    ]
    for start in range(0, len(request), IMPORT_BATCH):
        api(
            "import predictions",
            client.projects.import_predictions,
            project.id,
            request=request[start : start + IMPORT_BATCH],
        )
    if project.model_version != model_version:
        api(
            "set the project's model version",
            client.projects.update,
            project.id,
            model_version=model_version,
        )
        project.model_version = model_version
    return len(request)
