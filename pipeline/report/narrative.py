"""The "you said" narrative (key points, paragraph, other issues raised) for every output.

Kept apart from the html/docx/xlsx writers so each writer only adds a call: what is said and how
a draft is marked is decided once, here, and cannot drift between the four files.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from pipeline.report.keypoints import DRAFT, EMERGING_NOTE
from pipeline.report.model import ReportData

EMERGING_TITLE = "Other issues raised"


def paragraph(data: ReportData, theme_id: str) -> tuple[str, bool]:
    """(text, is_draft) for a theme; a draft's text starts with the draft mark."""
    text, draft = data.summary_for(theme_id)
    return (f"{DRAFT} {text}" if draft and text else text), draft


def point_lines(data: ReportData, theme_id: str) -> list[tuple[str, int, str]]:
    """(label, count, quote) per key point of a theme, largest first."""
    return [(r.label, int(r.n), r.quote) for r in data.points_for(theme_id).itertuples()]


def emerging_empty_text(data: ReportData) -> str:
    return "No group of comments outside the codebook is large enough to suggest a new theme."


# ---- HTML -------------------------------------------------------------------------------------

NARRATIVE_CSS = """
.kp{margin:8px 0 12px}.kp li{margin:6px 0}.kp .n{color:var(--muted);font-size:13px}
.kp q{display:block;font-style:italic;color:#33414f;margin-top:2px}
.draft{border-left:4px solid #c9a227;background:#fffbea;padding:8px 12px}
.draft .mark{font-weight:bold;color:#8a5a00}
"""


def html_theme(data: ReportData, theme_id: str) -> str:
    """A theme's paragraph and "Key points" list (counts, representative quote)."""
    text, draft = data.summary_for(theme_id)
    out = ""
    if text:
        out += (
            f'<p class="draft"><span class="mark">{escape(DRAFT)}</span> {escape(text)}</p>'
            if draft
            else f'<p class="said">{escape(text)}</p>'
        )
    items = "".join(
        f'<li><b>{escape(label)}</b> <span class="n">· {n:,} comments</span>'
        + (f"<q>{escape(quote)}</q>" if quote else "")
        + "</li>"
        for label, n, quote in point_lines(data, theme_id)
    )
    if items:
        out += f'<div class="kp"><h4>Key points</h4><ul>{items}</ul></div>'
    return out


def html_emerging(data: ReportData) -> str:
    """The "Other issues raised" section: candidate new themes from uncoded comments."""
    parts = []
    for r in data.emerging.itertuples():
        quotes = "".join(f"<blockquote><p>“{escape(q)}”</p></blockquote>" for q in r.quotes)
        parts.append(
            f'<div class="theme" id="emerging-{int(r.cluster)}"><h3>{int(r.cluster)}. '
            f'{escape(r.label)} <span class="count">· {int(r.n):,} comments</span></h3>'
            f'<p class="note">Key phrases: {escape(", ".join(r.keyphrases))}</p>{quotes}</div>'
        )
    body = "".join(parts) or f'<p class="note">{escape(emerging_empty_text(data))}</p>'
    return (
        f'<style>{NARRATIVE_CSS}</style><section id="emerging"><h2>{EMERGING_TITLE}</h2>'
        f'<p class="note">{escape(EMERGING_NOTE)}</p>{body}</section>'
    )


# ---- Markdown ---------------------------------------------------------------------------------


def md_theme(data: ReportData, theme_id: str, esc) -> list[str]:
    """Markdown lines: the paragraph (draft marked) and the key points list."""
    text, draft = paragraph(data, theme_id)
    lines = [f"*{esc(text)}*" if draft else esc(text), ""] if text else []
    points = point_lines(data, theme_id)
    if points:
        lines += ["**Key points:**", ""]
        for label, n, quote in points:
            said = f" — “{esc(quote)}”" if quote else ""
            lines.append(f"- {esc(label)} ({n:,}){said}")
        lines.append("")
    return lines


def md_emerging(data: ReportData, esc) -> list[str]:
    lines = [f"## {EMERGING_TITLE}", "", f"*{esc(EMERGING_NOTE)}*", ""]
    if data.emerging.empty:
        return lines + [esc(emerging_empty_text(data)), ""]
    for r in data.emerging.itertuples():
        lines += [
            f"### {int(r.cluster)}. {esc(r.label)} ({int(r.n):,} comments)",
            "",
            f"Key phrases: {esc(', '.join(r.keyphrases))}",
            "",
        ]
        lines += [line for q in r.quotes for line in (f"> “{esc(q)}”", "")]
    return lines


# ---- Word -------------------------------------------------------------------------------------


def docx_theme(doc, data: ReportData, theme_id: str) -> None:
    """The paragraph (draft in italics, marked) and key points as a bulleted list."""
    text, draft = paragraph(data, theme_id)
    if text:
        p = doc.add_paragraph()
        run = p.add_run(text)
        run.italic = draft
    points = point_lines(data, theme_id)
    if points:
        doc.add_paragraph().add_run("Key points").bold = True
        for label, n, quote in points:
            p = doc.add_paragraph(style="List Bullet")
            p.add_run(f"{label} ({n:,})").bold = True
            if quote:
                p.add_run(f" — “{quote}”").italic = True


def docx_emerging(doc, data: ReportData) -> None:
    doc.add_heading(EMERGING_TITLE, level=1)
    doc.add_paragraph(EMERGING_NOTE).runs[0].italic = True
    if data.emerging.empty:
        doc.add_paragraph(emerging_empty_text(data))
    for r in data.emerging.itertuples():
        doc.add_heading(f"{int(r.cluster)}. {r.label} ({int(r.n):,} comments)", level=2)
        doc.add_paragraph(f"Key phrases: {', '.join(r.keyphrases)}")
        for q in r.quotes:
            doc.add_paragraph(f"“{q}”", style="Quote")


# ---- Excel ------------------------------------------------------------------------------------


def key_points_frame(data: ReportData) -> pd.DataFrame:
    """The "Key points" sheet: one row per point, with the theme's paragraph on its first row."""
    rows = []
    for t in data.order:
        text, draft = data.summary_for(t)
        for i, (label, n, quote) in enumerate(point_lines(data, t)):
            rows.append(
                {
                    "Theme": data.names[t],
                    "Key point": label,
                    "Comments": n,
                    "Representative quote (redacted)": quote,
                    "Paragraph": (("DRAFT: " if draft else "") + text) if i == 0 else "",
                }
            )
    return pd.DataFrame(
        rows,
        columns=["Theme", "Key point", "Comments", "Representative quote (redacted)", "Paragraph"],
    )


def emerging_frame(data: ReportData) -> pd.DataFrame:
    """The "Other issues raised" sheet: one row per candidate theme."""
    cols = ["Cluster", "Label", "Comments", "Key phrases", "Example quotes (redacted)", "Note"]
    rows = [
        {
            "Cluster": int(r.cluster),
            "Label": r.label,
            "Comments": int(r.n),
            "Key phrases": ", ".join(r.keyphrases),
            "Example quotes (redacted)": "\n".join(f"“{q}”" for q in r.quotes),
            "Note": "Outside the codebook: candidate for a new theme",
        }
        for r in data.emerging.itertuples()
    ]
    return pd.DataFrame(rows, columns=cols)


def xlsx_sheets(wb, data: ReportData, taken: set[str], write, sheet_name) -> None:
    """Add the two sheets with the workbook's own writer (`write`) and sheet namer."""
    ws = wb.create_sheet(sheet_name("Key points", taken))
    write(
        ws,
        key_points_frame(data),
        {"Comments": "#,##0"},
        widths={
            "Theme": 34,
            "Key point": 40,
            "Representative quote (redacted)": 80,
            "Paragraph": 80,
        },
        wrap=("Representative quote (redacted)", "Paragraph"),
    )
    ws = wb.create_sheet(sheet_name("Other issues raised", taken))
    write(
        ws,
        emerging_frame(data),
        {"Comments": "#,##0"},
        widths={"Label": 40, "Key phrases": 50, "Example quotes (redacted)": 90, "Note": 30},
        wrap=("Example quotes (redacted)", "Key phrases"),
    )
