"""you_said_we_did.docx and .md: per theme, what people said and what the plan did about it.

Themes come in order of size (sub-themes after their parent). A theme with no entry in
labels/responses.yaml is listed as "Response pending", never skipped, so a gap is visible.
"""

from __future__ import annotations

import io
from pathlib import Path

from pipeline.report.model import PENDING, ReportData
from pipeline.report.narrative import docx_emerging, docx_theme, md_emerging, md_theme


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
    """Top-level themes numbered; a sub-theme (number None) sits under its parent, unnumbered."""
    number = 0
    for row in data.themes.itertuples(index=False):
        sub = bool(row.depth) or bool(row.parent_id)
        number += 0 if sub else 1
        quotes = data.quotes_for(row.theme_id).head(n_quotes)["quote"].tolist()
        yield (
            (None if sub else number),
            row,
            _said(data, row),
            quotes,
            data.response_for(row.theme_id),
        )


def _heading(number: int | None, theme: str) -> str:
    return theme if number is None else f"{number}. {theme}"


SUMMARY_HEAD = ["Theme", "Comments", "% of substantive", "Estimate (interval)", "Note"]
SUMMARY_WIDTHS_CM = (5.2, 2.2, 2.2, 3.2, 3.2)  # 16 cm: the text width of A4 at 2.5 cm margins


def _summary_rows(data: ReportData) -> list[list[str]]:
    """The summary table's rows as text, shared by Word and Markdown so they cannot drift."""
    rows = []
    for r in data.themes.itertuples(index=False):
        sub = bool(r.depth) or bool(r.parent_id)
        rows.append(
            [
                ("↳ " if sub else "") + r.theme,
                f"{r.count:,}",
                f"{r.share:.0%}",
                f"{r.corrected:,.0f} ({r.low:,.0f} to {r.high:,.0f})",
                "Indicative only" if r.indicative_only else "",
            ]
        )
    return rows


def _dated(data: ReportData) -> str:
    return f"Report date: {data.generated}"


def _author(data: ReportData) -> str:
    """Who the document is from: the analysts, never the software. The workspace names no
    organisation, and guessing one from the title would put a wrong name on a public document."""
    return "Consultation analysis team"


def _page_number_field(paragraph) -> None:
    """A PAGE field, so Word numbers every page itself."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = paragraph.add_run()
    for kind, text in (
        ("begin", None),
        (None, "PAGE"),
        ("separate", None),
        (None, "1"),
        ("end", None),
    ):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text == "PAGE":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = " PAGE "
        else:
            el = OxmlElement("w:t")
            el.text = text
        run._r.append(el)


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
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Mm, Pt, RGBColor

    from pipeline.report.charts import theme_chart_png

    doc = Document()
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(11)
    section = doc.sections[0]  # A4 with 2.5 cm margins: python-docx defaults to US Letter
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.5))
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Page ")
    _page_number_field(footer)
    props = doc.core_properties
    props.title = f"{data.title}: {data.question}"[:255]
    props.author = props.last_modified_by = _author(data)
    props.subject = "You said, we did"
    doc.add_heading("You said, we did", level=0)
    doc.add_paragraph(data.title).runs[0].italic = True
    doc.add_paragraph(_dated(data))
    doc.add_paragraph(_intro(data))
    doc.add_heading("Summary of themes", level=1)
    table = doc.add_table(rows=1, cols=len(SUMMARY_HEAD))
    table.style = "Light Grid Accent 1"
    for cell, text in zip(table.rows[0].cells, SUMMARY_HEAD, strict=True):
        cell.text = text
    for values in _summary_rows(data):
        for cell, text in zip(table.add_row().cells, values, strict=True):
            cell.text = text
    table.autofit = False
    for column, width in zip(table.columns, SUMMARY_WIDTHS_CM, strict=True):
        column.width = Cm(width)  # the table grid (LibreOffice reads this)
        for cell in column.cells:  # and each cell (Word reads these)
            cell.width = Cm(width)
    doc.add_paragraph(
        f"Estimate: the count corrected for the classifier's measured error, with its "
        f"{data.level:.0%} interval. Indicative only: too uncertain to quote as more than a "
        "direction."
    ).runs[0].italic = True
    doc.add_picture(io.BytesIO(theme_chart_png(data.themes)), width=Cm(16))
    for number, row, said, quotes, response in _sections(data, n_quotes):
        doc.add_heading(_heading(number, row.theme), level=1 if number else 2)
        p = doc.add_paragraph()
        p.add_run("You said: ").bold = True
        p.add_run(said)
        docx_theme(doc, data, row.theme_id)
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
    docx_emerging(doc, data)
    doc.add_heading("Method and notes", level=1)
    for note in data.notes:
        doc.add_paragraph(note, style="List Bullet")
    doc.add_paragraph(_dated(data)).runs[0].italic = True
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
        _md_escape(_dated(data)),
        "",
        _md_escape(_intro(data)),
        "",
        "## Summary of themes",
        "",
        "| " + " | ".join(SUMMARY_HEAD) + " |",
        "|" + "---|" * len(SUMMARY_HEAD),
        *("| " + " | ".join(_md_escape(v) for v in r) + " |" for r in _summary_rows(data)),
        "",
        f"*Estimate: the count corrected for the classifier's measured error, with its "
        f"{data.level:.0%} interval. Indicative only: too uncertain to quote as more than a "
        "direction.*",
        "",
    ]
    for number, row, said, quotes, response in _sections(data, n_quotes):
        lines += [
            f"{'##' if number else '###'} {_md_escape(_heading(number, row.theme))}",
            "",
            f"**You said:** {_md_escape(said)}",
            "",
            *md_theme(data, row.theme_id, _md_escape),
        ]
        for quote in quotes:
            lines += [f"> “{_md_escape(quote)}”", ""]
        lines += [f"**We did:** {_md_escape(response) if response else '*' + PENDING + '*'}", ""]
    lines += md_emerging(data, _md_escape)
    lines += ["## Method and notes", ""]
    lines += [f"- {_md_escape(n)}" for n in data.notes]
    lines += ["", f"*{_md_escape(_dated(data))}*", ""]
    return "\n".join(lines)
