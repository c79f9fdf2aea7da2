"""Labelling one question: choose what to label next, push it to Label Studio, pull answers back."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline import modeldir
from pipeline.columns import prob_col
from pipeline.embed import read_embeddings
from pipeline.labelled import read_labelled
from pipeline.select import choose_next, first_batch
from pipeline.stages.base import Outcome, codebook, comments_table
from pipeline.workspace import Question, Workspace


def choose(
    ws: Workspace, q: Question, n: int, exclude: Iterable[str] = ()
) -> tuple[pd.DataFrame, list[int], str]:
    """(comments, chosen row positions, how they were chosen).

    With a model and its coded table: the least certain comments, spread out. Before that: a
    random first batch spread over clusters. Labelled comments and `exclude` (e.g. waiting in
    Label Studio) are never chosen.
    """
    paths = ws.paths(q)
    comments = comments_table(ws, q)
    ids = comments["id"].astype(str).tolist()
    vectors = np.asarray(read_embeddings(paths.embeddings, ids))
    book = codebook(ws, q)
    done = [str(i) for i in exclude]
    if paths.labelled.exists():
        done += read_labelled(paths.labelled, book)["id"].tolist()
    seed = ws.settings.seed
    if paths.coded.exists() and (paths.model_dir / "meta.json").exists():
        coded = pd.read_parquet(paths.coded)
        model = modeldir.load(paths.model_dir, book)
        if coded["id"].astype(str).tolist() == ids:
            probs = coded[[prob_col(t) for t in model.theme_ids]].to_numpy()
            thresholds = np.asarray(model.meta["thresholds"])
            chosen = choose_next(comments, vectors, probs, n, thresholds, done, seed=seed)
            return comments, chosen, "model uncertainty"
    chosen = first_batch(comments, vectors, n, done, seed=seed)
    return comments, chosen, "a random first batch spread over clusters (no model yet)"


def project_title(ws: Workspace, q: Question) -> str:
    """Within Label Studio's 50 characters; the project is found by its stored id anyway."""
    from pipeline.labelling import project_title as title

    return title(ws.config.name, q.id)


def push(ws: Workspace, q: Question, n: int | None = None, url: str | None = None) -> Outcome:
    from pipeline import labelling as ls

    paths, s = ws.paths(q), ws.settings.label
    n = s.batch if n is None else n
    book = codebook(ws, q)
    comments = comments_table(ws, q)
    client = ls.connect(ls.resolve_connection(s.url, url))
    wanted = s.metadata if s.metadata is not None else ws.respondent_columns
    metadata = ls.metadata_columns(comments, wanted)
    config = ls.label_config(book, metadata)
    project = ls.ensure_project(
        client,
        project_title(ws, q),
        config,
        q.text or book.question,
        s.sampling,
        state_path=paths.label_studio,
    )
    existing = ls.project_tasks(client, project.id)
    chosen_ids: list[str] = []
    how = ""
    if n > 0:
        frame, chosen, how = choose(ws, q, n, exclude=existing["comment_id"])
        chosen_ids = frame.iloc[chosen]["id"].astype(str).tolist()
    predictions = model_version = None
    if paths.coded.exists():
        coded = pd.read_parquet(paths.coded)
        predictions = ls.predictions_from_coded(coded, book)
        if "model_version" in coded.columns and len(coded):
            model_version = str(coded["model_version"].iloc[0])
    result = ls.push(
        client,
        project,
        comments,
        chosen_ids,
        predictions,
        model_version,
        metadata,
    )
    preds = (
        f"{result.predictions_imported} pre-annotations from model {model_version}"
        if model_version
        else "no pre-annotations (no model yet)"
    )
    return Outcome(
        {"label_studio": paths.label_studio},
        f"Label Studio project {project.id} '{project.title}'"
        f"{' (created)' if project.created else ''}: {result.tasks_created} tasks added"
        f"{f' ({how})' if how else ''}, {len(existing)} already there, {preds} "
        f"({result.seconds:.1f} s)",
    )


def pull(ws: Workspace, q: Question, url: str | None = None) -> Outcome:
    from pipeline import labelling as ls

    paths, s = ws.paths(q), ws.settings.label
    book = codebook(ws, q)
    client = ls.connect(ls.resolve_connection(s.url, url))
    comments = pd.read_parquet(paths.comments) if paths.comments.exists() else None
    result = ls.pull(
        client,
        book,
        title=project_title(ws, q),
        annotations_path=paths.annotations,
        labelled_path=paths.labelled,
        agreement_path=paths.agreement,
        disagreements_path=paths.disagreements,
        comments=comments,
        state_path=paths.label_studio,
    )
    return Outcome(
        result.written,
        f"pulled {result.annotations} answers and {result.skipped} skips on "
        f"{result.tasks_exported} tasks ({result.appended} new to {paths.annotations}); "
        f"{result.labelled} comments labelled in Label Studio ({result.seconds:.1f} s)\n"
        + ls.agreement_summary(result.agreement, result.disagreements),
    )
