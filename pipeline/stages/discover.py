"""Discover topics in one question; write a starter codebook when the question has none."""

from __future__ import annotations

import numpy as np

from pipeline import discovery_report as report
from pipeline.codebook import load_codebook
from pipeline.discover import discover
from pipeline.embed import load_model, read_embeddings
from pipeline.privacy import redact_many, without_personal_data
from pipeline.stages.base import Outcome, comments_table
from pipeline.stages.status import STARTER_LINE
from pipeline.tables import write_atomic
from pipeline.workspace import Question, Workspace


def run(ws: Workspace, q: Question) -> Outcome:
    paths = ws.paths(q)
    comments = comments_table(ws, q, ["id", "text", "substantive"])
    ids = comments["id"].astype(str).tolist()
    vectors = np.array(read_embeddings(paths.embeddings, ids), dtype=np.float32)
    book = load_codebook(paths.codebook) if paths.codebook.exists() else None
    model = load_model(ws.settings.embedding.model_name)
    allow, patterns = ws.config.redaction_allow, ws.config.redaction_patterns
    texts = comments["text"].astype(str).tolist()
    redactions = redact_many(texts, allow, patterns=patterns)
    result = discover(
        comments,
        vectors,
        book,
        model,
        ws.settings.discover,
        seed=ws.settings.seed,
        safe_texts=without_personal_data(texts, redactions),
    )
    known = {t: r.text for t, r in zip(texts, redactions, strict=True)}
    result = report.shareable(result, allow, patterns, known)
    n_examples = ws.settings.discover.n_examples
    report.write_xlsx(result, paths.discovery_xlsx, n_examples)
    report.write_html(result, book, paths.discovery_html)
    report.write_json(result, paths.discovery_json)
    outputs = {
        "discovery_xlsx": paths.discovery_xlsx,
        "discovery_html": paths.discovery_html,
        "discovery_json": paths.discovery_json,
    }
    s = result.summary
    line = (
        f"{s['comments']} comments: {s['topics']} topics, new-theme candidates "
        f"{s['candidates']}, outliers {s['outlier_share_before_reduction']:.1%} -> "
        f"{s['outlier_share']:.1%}"
    )
    if book is None:
        text = STARTER_LINE + report.starter_codebook(result, q.text or q.column)
        write_atomic(paths.codebook, lambda p: p.write_text(text, encoding="utf-8"))
        outputs["codebook"] = paths.codebook
        line += f"; starter codebook written to {paths.codebook}: edit it before labelling"
    else:
        line += f"; codebook themes found {len(s['themes_recovered'])}/{len(book.ids)}"
    return Outcome(outputs, line)


def suggest(ws: Workspace, q: Question, refresh: bool = False) -> Outcome:
    """New-theme candidates as codebook entries to paste in (runs discovery if needed)."""
    paths = ws.paths(q)
    book = load_codebook(paths.codebook) if paths.codebook.exists() else None
    if refresh or not paths.discovery_json.exists() or book is None:
        run(ws, q)
        book = load_codebook(paths.codebook)
    text = report.suggestions_yaml(report.read_candidates(paths.discovery_json), book)
    report.write_suggestions(text, paths.suggestions)
    return Outcome({"suggestions": paths.suggestions}, text)
