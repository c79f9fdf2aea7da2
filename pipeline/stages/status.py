"""Where each question stands, and the one thing to do next: read from the files alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipeline.stages.base import command
from pipeline.workspace import REPORT_FILES, Question, QuestionPaths, Workspace

STARTER_MARK = "STARTER"  # discover's starter codebook says so in its first line
STARTER_LINE = f"# {STARTER_MARK} codebook: delete this line once you have edited the themes.\n"


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def _rows(path: Path) -> int:
    """Data rows of a csv (labelled.csv: one row per labelled comment); 0 if unreadable."""
    if not path.exists():
        return 0
    try:
        return max(0, len(pd.read_csv(path, dtype=str, keep_default_na=False)))
    except (ValueError, OSError):
        return 0


def is_starter(paths: QuestionPaths) -> bool:
    if not paths.codebook.exists():
        return False
    with paths.codebook.open(encoding="utf-8") as fh:
        return STARTER_MARK in fh.readline()


def next_step(ws: Workspace, q: Question) -> str:
    p = ws.paths(q)
    need = ws.settings.classifier.min_labelled
    if not p.comments.exists() or _mtime(p.comments) < max(map(_mtime, ws.inputs)):
        return f"`{command('ingest', ws, q)}`"
    if _mtime(p.embeddings) < _mtime(p.comments):
        return f"`{command('embed', ws, q)}`"
    if not p.codebook.exists():
        return f"`{command('discover', ws, q)}` (writes a starter codebook)"
    if is_starter(p):
        return (
            f"edit the starter codebook {p.codebook} (rename, merge, describe themes; delete its "
            f"first line), then `{command('label push', ws, q)}`"
        )
    if _rows(p.labelled) < need:
        return (
            f"`{command('label push', ws, q)}`, code the comments in Label Studio, then "
            f"`{command('label pull', ws, q)}` ({_rows(p.labelled)} of at least {need} labels)"
        )
    model = p.model_dir / "meta.json"
    if _mtime(model) < max(_mtime(p.labelled), _mtime(p.codebook)):
        return f"`{command('train', ws, q)}`"
    if _mtime(p.coded) < max(_mtime(model), _mtime(p.comments)):
        return f"`{command('code', ws, q)}`"
    report = p.reports / REPORT_FILES["html"]
    if _mtime(report) < max(_mtime(p.coded), _mtime(p.responses), _mtime(p.quotes)):
        return f"`{command('report', ws, q)}`"
    return (
        f'read {report}; write the "we did" text in {p.responses}; label the comments flagged '
        f"for review with `{command('label push', ws, q)}`"
    )


@dataclass
class QuestionStatus:
    question: str
    comments: str
    themes: str
    labels: str
    model: str
    coded: str
    report: str
    next: str


def _date(path: Path) -> str:
    return (
        datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        if path.exists()
        else "-"
    )


def question_status(ws: Workspace, q: Question) -> QuestionStatus:
    p = ws.paths(q)
    comments = "-"
    if p.comments.exists():
        sub = pd.read_parquet(p.comments, columns=["substantive"])["substantive"]
        comments = f"{len(sub)} ({int(sub.sum())} substantive)"
    themes = "-"
    if p.codebook.exists():
        from pipeline.codebook import load_codebook

        themes = str(len(load_codebook(p.codebook).ids)) + (" (starter)" if is_starter(p) else "")
    model = "-"
    metrics = p.model_dir / "metrics.json"
    if metrics.exists():
        m = json.loads(metrics.read_text(encoding="utf-8"))
        model = f"micro-F1 {m['micro']['f1']:.2f} ({_date(metrics)})"
    coded = "-"
    if p.coded.exists():
        coded = f"{len(pd.read_parquet(p.coded, columns=['id']))} ({_date(p.coded)})"
    return QuestionStatus(
        question=q.id,
        comments=comments,
        themes=themes,
        labels=str(_rows(p.labelled)),
        model=model,
        coded=coded,
        report=_date(p.reports / REPORT_FILES["html"]),
        next=next_step(ws, q),
    )
