"""Write one question's report, then refresh the consultation page that links every question."""

from __future__ import annotations

import html
import logging
from datetime import date

import pandas as pd

from pipeline.columns import code_col
from pipeline.errors import YousaidError
from pipeline.manifest import REPORT_MANIFEST, check_coded, check_set
from pipeline.report import OUTPUTS, build_report
from pipeline.stages.base import Outcome, codebook
from pipeline.tables import write_atomic
from pipeline.workspace import Question, Workspace

log = logging.getLogger(__name__)


def run(ws: Workspace, q: Question) -> Outcome:
    paths = ws.paths(q)
    book = codebook(ws, q)
    written = build_report(
        paths.coded,
        paths.codebook,
        paths.reports,
        labelled=paths.labelled if paths.labelled.exists() else None,
        metrics=paths.model_dir / "metrics.json",
        embeddings=paths.embeddings,
        responses=paths.responses if paths.responses.exists() else None,
        summaries=paths.summaries if paths.summaries.exists() else None,
        quotes=paths.quotes if paths.quotes.exists() else None,
        cfg=ws.settings.report,
        seed=ws.settings.seed,
        title=ws.config.title,
        question=q.text or book.question or q.column,
        group_by=ws.respondent_columns,
        display_names=ws.config.display_names,
        redaction_allow=ws.config.redaction_allow,
        redaction_patterns=ws.config.redaction_patterns,
    )
    index = write_index(ws)
    return Outcome(
        {**{f"report_{k}": v for k, v in written.items()}, "index": index},
        f"report written to {paths.reports}; consultation page {index}",
    )


def _question_row(ws: Workspace, q: Question) -> str:
    """One question on the consultation page: its counts, top themes and links to its files."""
    paths = ws.paths(q)
    e = html.escape
    asked = e(q.text or q.column)
    if not (paths.reports / OUTPUTS["html"]).exists():
        return f"<tr><td>{e(q.id)}</td><td>{asked}</td><td colspan=3>no report yet</td></tr>"
    try:  # never link a mixed set (a killed run) from the consultation page
        check_set(paths.reports / REPORT_MANIFEST)
        check_coded(paths.coded)
    except YousaidError as exc:
        log.warning("%s", exc)
        return (
            f"<tr><td>{e(q.id)}</td><td>{asked}</td><td colspan=3>report out of date or "
            f"incomplete: run <code>yousaid report --question {e(q.id)}</code></td></tr>"
        )
    coded = pd.read_parquet(paths.coded)
    sub = coded[coded["substantive"].astype(bool)]
    names = {t.id: t.name for t in codebook(ws, q).themes}
    counts = {t: int(sub[code_col(t)].sum()) for t in names if code_col(t) in sub.columns}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    themes = "; ".join(f"{e(names[t])} ({n})" for t, n in top)
    links = " · ".join(
        f'<a href="../{e(q.id)}/reports/{name}">{label}</a>'
        for label, name in (
            ("report", OUTPUTS["html"]),
            ("Word", OUTPUTS["docx"]),
            ("workbook", OUTPUTS["xlsx"]),
        )
    )
    return (
        f"<tr><td>{e(q.id)}</td><td>{asked}</td><td>{len(coded):,} answers, "
        f"{len(sub):,} substantive</td><td>{themes}</td><td>{links}</td></tr>"
    )


def write_index(ws: Workspace):
    """reports/index.html: the consultation at a glance, one row per question."""
    rows = "\n".join(_question_row(ws, q) for q in ws.config.questions)
    title = html.escape(ws.config.title)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#1d2733}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #d8dee6;padding:8px;
text-align:left;vertical-align:top}}.wrap{{overflow-x:auto}}</style></head>
<body><h1>{title}</h1><p>Consultation report, {date.today().isoformat()}: {len(ws.config.questions)}
open questions.</p><div class="wrap"><table><thead><tr><th>question</th><th>asked</th>
<th>answers</th><th>most raised</th><th>files</th></tr></thead><tbody>
{rows}
</tbody></table></div></body></html>
"""
    return write_atomic(ws.index, lambda p: p.write_text(page, encoding="utf-8"))
