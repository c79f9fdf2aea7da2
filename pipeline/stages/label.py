"""Labelling one question: choose what to label next, push it to Label Studio, pull answers back.

Two streams go to Label Studio: `train` (the comments the model is least sure of, with its
suggestions) and `audit` (`--audit N`: a blind simple random sample, no suggestions, the only
labels the report may use to measure the model's error).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.coding import training_labels
from pipeline.embed import read_embeddings
from pipeline.errors import YousaidError
from pipeline.labelled import label_matrix, read_labelled
from pipeline.manifest import check_coded
from pipeline.select import (
    audit_sample,
    choose_next,
    first_batch,
    picker_scores,
    suggest_audit_size,
)
from pipeline.stages.base import Outcome, codebook, comments_table
from pipeline.workspace import Question, Workspace


def choose(
    ws: Workspace, q: Question, n: int, exclude: Iterable[str] = ()
) -> tuple[pd.DataFrame, list[int], str]:
    """(comments, chosen row positions, how they were chosen).

    With enough hand labels: the comments a picker fitted on every label so far is least sure
    of, spread out (`pipeline.select.PICKER`; so no retraining is needed between batches).
    Before that: a random first batch spread over clusters. Labelled comments and `exclude`
    (e.g. waiting in Label Studio) are never chosen.
    """
    paths = ws.paths(q)
    if paths.coded.exists():
        check_coded(paths.coded)  # never choose or pre-annotate from half of two runs
    comments = comments_table(ws, q)
    ids = comments["id"].astype(str).tolist()
    vectors = np.asarray(read_embeddings(paths.embeddings, ids))
    book = codebook(ws, q)
    done = [str(i) for i in exclude]
    seed, s = ws.settings.seed, ws.settings.classifier
    if paths.labelled.exists():
        labelled = read_labelled(paths.labelled, book)
        done += labelled["id"].tolist()
        at = {i: k for k, i in enumerate(ids)}
        train = training_labels(labelled)
        train = train[train["id"].astype(str).isin(at)]
        Y = label_matrix(train["labels"], book.ids)
        if s.enough_labels(Y):
            rows = np.array([at[i] for i in train["id"].astype(str)])
            texts = comments["text"].fillna("").astype(str).tolist()
            probs, thresholds = picker_scores(texts, vectors, rows, Y, s.estimator_params(), seed)
            chosen = choose_next(comments, vectors, probs, n, thresholds, done, seed=seed)
            return comments, chosen, "model uncertainty"
    chosen = first_batch(comments, vectors, n, done, seed=seed)
    return comments, chosen, "a random first batch spread over clusters (not enough labels yet)"


def labelled_ids(ws: Workspace, q: Question) -> list[str]:
    """Comment ids that already have a hand label (either stream)."""
    paths = ws.paths(q)
    if not paths.labelled.exists():
        return []
    return read_labelled(paths.labelled, codebook(ws, q))["id"].tolist()


def parse_audit(audit: str | int) -> int | None:
    """`--audit N` as N, `--audit auto` as None; anything else stops before any request."""
    if str(audit).strip().lower() == "auto":
        return None
    try:
        n = int(audit)
    except ValueError:
        raise YousaidError(f"--audit takes a number or 'auto', not '{audit}'") from None
    if n < 0:
        raise YousaidError("--audit must be 0 or more")
    return n


def audit_size(
    audit: str | int, population: int, already: int, halfwidth: float, level: float
) -> tuple[int, str]:
    """(how many to draw now, advice line) for `--audit N` or `--audit auto`.

    `auto` sizes the whole audit (what is already drawn counts) for a theme holding 10% of the
    comments within +/- `halfwidth` at the report's interval level.
    """
    whole = population + already
    suggested = suggest_audit_size(whole, halfwidth, 0.1, level)
    advice = (
        f"suggested audit for {whole} comments: {suggested} (a theme at 10% within "
        f"+/-{halfwidth:.0%} at {level:.0%}; `--halfwidth` for another precision)"
    )
    n = parse_audit(audit)
    return (max(0, suggested - already) if n is None else n), advice


def draw_audit(
    ws: Workspace,
    q: Question,
    audit: str | int,
    exclude: Iterable[str],
    already: int,
    halfwidth: float = 0.05,
) -> tuple[list[str], int, str]:
    """(audit comment ids, population size they were drawn from, advice line).

    The population is every substantive comment with no label and no task yet; the seed is
    settings.seed with the number of audit tasks already drawn, so a second draw is a new one.
    """
    comments = comments_table(ws, q)
    done = [*map(str, exclude), *labelled_ids(ws, q)]
    population = audit_sample(comments, 0, done).population
    n, advice = audit_size(audit, population, already, halfwidth, ws.settings.report.level)
    draw = audit_sample(comments, n, done, seed=ws.settings.seed + already)
    ids = comments.iloc[draw.rows]["id"].astype(str).tolist()
    return ids, draw.population, advice


def project_title(ws: Workspace, q: Question) -> str:
    """Within Label Studio's 50 characters; the project is found by its stored id anyway."""
    from pipeline.labelling import project_title as title

    return title(ws.config.name, q.id)


def push(
    ws: Workspace,
    q: Question,
    n: int | None = None,
    url: str | None = None,
    audit: str | int | None = None,
    halfwidth: float = 0.05,
) -> Outcome:
    """Push train picks (default `label.batch`; none by default when `audit` is given) and, with
    `audit`, a blind random audit sample drawn after them from what is left."""
    from pipeline import labelling as ls

    paths, s = ws.paths(q), ws.settings.label
    n = (s.batch if audit is None else 0) if n is None else n
    if audit is not None:
        parse_audit(audit)
        if not 0 < halfwidth < 1:
            raise YousaidError("--halfwidth is a share between 0 and 1 (0.05 = 5 points)")
    book = codebook(ws, q)
    comments = comments_table(ws, q)
    if paths.coded.exists():
        check_coded(paths.coded)  # refuse half of two runs before anything reaches Label Studio
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
        instructions=ls.instructions(book),
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
    audit_line, audit_result = "", None
    if audit is not None:
        # Drawn after the train picks, from what is left: the audit stays a simple random
        # sample of the comments the train stream did not take.
        already = int((existing["sample"] == "audit").sum())
        audit_ids, population, advice = draw_audit(
            ws, q, audit, [*existing["comment_id"], *chosen_ids], already, halfwidth
        )
        extra: dict[str, Any] = {"audit_population": population}
        audit_result = ls.push(
            client, project, comments, audit_ids, metadata=metadata, sample="audit", extra=extra
        )
        if audit_result.tasks_created:
            ls.record_audit_draw(
                paths.label_studio,
                {
                    "drawn_at": pd.Timestamp.now(tz="UTC").isoformat(),
                    "n": audit_result.tasks_created,
                    "population": population,
                    "seed": ws.settings.seed + already,
                },
            )
        audit_line = (
            f"; audit: {audit_result.tasks_created} blind random tasks (no suggestions) drawn "
            f"from {population} unlabelled substantive comments, {already} drawn before; {advice}"
        )
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
    seconds = result.seconds + (audit_result.seconds if audit_result else 0.0)
    return Outcome(
        {"label_studio": paths.label_studio},
        f"Label Studio project {project.id} '{project.title}'"
        f"{' (created)' if project.created else ''}: {result.tasks_created} tasks added"
        f"{f' ({how})' if how else ''}, {len(existing)} already there, {preds}"
        f"{audit_line} ({seconds:.1f} s)",
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
    st = result.streams
    accepted = (
        f", {st['accepted_unchanged']:.0%} of the {st['train_with_suggestion']} shown a "
        "suggestion kept it unchanged"
        if st.get("accepted_unchanged") is not None
        else ""
    )
    problems = ""
    if result.contradictory:
        problems += (
            f"\n{result.contradictory} answers tick 'None of these themes' beside a theme: "
            "not labels until fixed (listed in disagreements.csv)"
        )
    if result.empty:
        problems += f"\n{result.empty} answers have nothing ticked: read as no theme"
    return Outcome(
        result.written,
        f"pulled {result.annotations} answers and {result.skipped} skips on "
        f"{result.tasks_exported} tasks ({result.appended} new to {paths.annotations}); "
        f"{result.labelled} comments labelled in Label Studio ({result.seconds:.1f} s); "
        f"labels: {st.get('audit', 0)} audit, {st.get('train', 0)} train{accepted}"
        f"{problems}\n" + ls.agreement_summary(result.agreement, result.disagreements),
    )
