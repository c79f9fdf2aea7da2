"""you_said_we_did.docx and .md: per theme, what people said and what the plan did about it.

Themes come in order of size (sub-themes after their parent). A theme with no entry in
labels/responses.yaml is listed as "Response pending", never skipped, so a gap is visible.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.report.model import PENDING, ReportData


def _said(data: ReportData, row) -> str:
    within = f" (within {data.names[row.parent_id]})" if row.parent_id else ""
    basis = (
        f"checked against a random audit sample of {row.n_audit:,} comments"
        if row.validated
        else "model-based, not validated by a random sample"
    )
    text = (
        f"{row.count:,} comments ({row.share:.0%} of the {data.summary['substantive']:,} "
        f"substantive comments) raised this{within}. Estimated total: {row.corrected:,.0f} "
        f"({data.level:.0%} interval {row.low:,.0f} to {row.high:,.0f}; {basis})."
    )
    if row.indicative_only:
        text += f" Indicative only: {row.reliability_note}."
    return text


def _sections(data: ReportData, n_quotes: int):
    for number, row in enumerate(data.themes.itertuples(index=False), start=1):
        quotes = data.quotes_for(row.theme_id).head(n_quotes)["quote"].tolist()
        yield number, row, _said(data, row), quotes, data.response_for(row.theme_id)


def _intro(data: ReportData) -> str:
    s = data.summary
    return (
        f"We asked: “{data.question}” We received {s['comments']:,} comments; "
        f"{s['substantive']:,} made a suggestion and were coded into themes (one comment can "
        f"raise several). {s['non_substantive']:,} said there was nothing to add or did not "
        "know, and are not counted in the themes."
    )


def write_docx(data: ReportData, path: Path, n_quotes: int = 3) -> None:
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(11)
    doc.add_heading("You said, we did", level=0)
    doc.add_paragraph(data.title).runs[0].italic = True
    doc.add_paragraph(_intro(data))
    for number, row, said, quotes, response in _sections(data, n_quotes):
        doc.add_heading(f"{number}. {row.theme}", level=1)
        p = doc.add_paragraph()
        p.add_run("You said: ").bold = True
        p.add_run(said)
        for quote in quotes:
            doc.add_paragraph(f"“{quote}”", style="Quote")
        p = doc.add_paragraph()
        p.add_run("We did: ").bold = True
        if response:
            p.add_run(response)
        else:
            run = p.add_run(PENDING)
            run.italic = True
            run.font.color.rgb = RGBColor(0x8A, 0x5A, 0x00)
    doc.save(str(path))


def _md_escape(text: str) -> str:
    """Plain text in Markdown: escape characters that would start markup or HTML."""
    out = text
    for ch in "\\`*_{}[]<>#|":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(data: ReportData, n_quotes: int = 3) -> str:
    lines = [
        "# You said, we did",
        "",
        f"*{_md_escape(data.title)}*",
        "",
        _md_escape(_intro(data)),
        "",
    ]
    for number, row, said, quotes, response in _sections(data, n_quotes):
        lines += [
            f"## {number}. {_md_escape(row.theme)}",
            "",
            f"**You said:** {_md_escape(said)}",
            "",
        ]
        for quote in quotes:
            lines += [f"> “{_md_escape(quote)}”", ""]
        lines += [f"**We did:** {_md_escape(response) if response else '*' + PENDING + '*'}", ""]
    return "\n".join(lines)
