"""report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

Every piece of text from the data goes through `e()` (html.escape with quotes), so a comment
that contains markup is shown as text. Charts are SVG made by matplotlib with text as paths.
"""

from __future__ import annotations

from html import escape

import numpy as np

from pipeline.report import charts
from pipeline.report.model import PENDING, ReportData
from pipeline.report.narrative import html_emerging, html_theme

CSS = """
:root{--ink:#1d2733;--muted:#5f6b78;--line:#e3e8ee;--accent:#2f6f9f;--bg:#f4f6f9;--up:#1f3a68;
--down:#1f3a68}
*{box-sizing:border-box}
body{margin:0;
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
.wrap{max-width:1080px;margin:0 auto;padding:0 24px}
header{background:#1f4e79;color:#fff;padding:30px 0 26px}
header h1{margin:0 0 6px;font-size:27px;line-height:1.25}
header .question{margin:0;font-size:17px;opacity:.92}
header .meta{margin:10px 0 0;font-size:13px;opacity:.75}
nav{background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
nav a{display:inline-block;padding:10px 12px;color:var(--accent);text-decoration:none;
font-size:14px}
nav a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
margin:22px 0 6px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.card .num{font-size:28px;font-weight:700;font-variant-numeric:tabular-nums}
.card .lbl{font-size:13px;color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:12px;padding:22px 28px;
margin:20px 0}
h2{margin:0 0 8px;font-size:21px}
h3{margin:26px 0 8px;font-size:17px}
p.note,.note{color:var(--muted);font-size:13.5px}
.chart{width:100%;height:auto;display:block;margin:10px 0}
.chartbox{overflow-x:auto;max-width:100%}
.scroll{overflow-x:auto;max-width:100%}
main,section,blockquote,li,p,h1,h2,h3{overflow-wrap:anywhere}
th,td{overflow-wrap:normal;word-break:normal}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums;
margin:8px 0}
th:first-child,td:first-child{min-width:200px}
th{text-align:left;border-bottom:2px solid var(--ink);padding:6px 8px;vertical-align:bottom;
font-weight:600}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
th.num,td.num{text-align:right}td.num{white-space:nowrap}
tr.sub td:first-child{padding-left:28px;color:var(--muted)}
tr.base td{color:var(--muted);font-style:italic}
.higher{color:var(--up);font-weight:600}.lower{color:var(--down);font-weight:600}
.lowbase{color:#9aa4ae}
details{margin:6px 0 4px}summary{cursor:pointer;color:var(--accent);font-size:14px}
.theme{border-top:1px solid var(--line);padding-top:6px;margin-top:18px}
h3 .count{color:var(--muted);font-weight:400;font-size:14px}
blockquote{margin:10px 0;padding:10px 16px;border-left:4px solid var(--accent);background:#f3f7fb;
border-radius:0 8px 8px 0}
blockquote p{margin:0}
blockquote .src{display:block;margin-top:4px;font-size:12px;color:var(--muted)}
.wedid{margin:10px 0 4px;padding:10px 14px;border:1px dashed #c9d3dd;border-radius:8px;
font-size:14px}
.wedid b{color:var(--accent)}
.pending{color:#8a5a00;font-style:italic}
.tag.weak{background:#fff1d6;color:#7a4b00}
.tag{display:inline-block;font-size:11px;padding:1px 6px;border-radius:8px;background:#eef2f6;
color:var(--muted);
margin-left:6px}
ul.notes li{margin:4px 0;font-size:14px}
footer{color:var(--muted);font-size:12.5px;padding:10px 0 40px}
@media (max-width:640px){
.wrap{padding:0 10px}section{padding:16px 12px;margin:14px 0}header h1{font-size:22px}
th:first-child,td:first-child{min-width:150px}
/* a chart keeps a width at which its text is still ~10 px or more, and scrolls in its box */
.chartbox .chart{min-width:840px}
}
"""


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pct(x: float) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:.1%}"


def _cards(data: ReportData) -> str:
    s = data.summary
    items = [
        (s["comments"], "comments received"),
        (s["substantive"], "substantive comments (the base for every %)"),
        (s["non_substantive"], "non-substantive, excluded (e.g. “No”, “Don’t know”)"),
        (s["hand_labelled"], "hand-labelled, counted as certain"),
        (len(data.themes), "themes in the codebook"),
    ]
    cards = "".join(
        f'<div class="card"><div class="num">{e(f"{n:,}")}</div>'
        f'<div class="lbl">{e(lbl)}</div></div>'
        for n, lbl in items
    )
    return f'<div class="cards">{cards}</div>'


def _themes_section(data: ReportData) -> str:
    t = data.themes
    lvl = f"{data.level:.0%}"
    rows = []
    for r in t.itertuples(index=False):
        cls = ' class="sub"' if r.depth else ""
        weak = (
            f' <span class="tag weak" title="{e(r.reliability_note)}">indicative only</span>'
            if r.indicative_only
            else ""
        )
        rows.append(
            f"<tr{cls}><td>{'↳ ' if r.depth else ''}{e(r.theme)}{weak}</td>"
            f'<td class="num">{r.count:,}</td><td class="num">{_pct(r.share)}</td>'
            f'<td class="num">{r.corrected:,.0f}</td>'
            f'<td class="num">{r.low:,.0f} – {r.high:,.0f}</td>'
            f'<td class="num">{r.hand_labelled:,}</td>'
            f'<td class="num">{"–" if np.isnan(r.precision) else f"{r.precision:.2f}"}</td>'
            f'<td class="num">{"–" if np.isnan(r.recall) else f"{r.recall:.2f}"}</td>'
            f"<td>{e(r.reliability_note) or 'ok'}</td></tr>"
        )
    s = data.summary
    validated = bool(t["validated"].all()) if len(t) else False
    n_audit = int(t["n_audit"].max()) if len(t) else 0
    basis = (
        f"checked against a blind random audit sample of {n_audit:,} hand-labelled comments "
        "(prediction-powered estimate: every comment's probability, corrected by the audit)"
        if validated
        else "model-based, not validated by a random sample (no audit sample yet: "
        "`yousaid label push --audit auto`)"
    )
    rates = "audit" if validated else "CV"
    return f"""
<section id="themes"><h2>What people raised</h2>
<p>{s["substantive"]:,} substantive comments were coded into themes. A comment can raise several
themes, so the counts add up to more than the number of comments (those with a theme raise
{s["mean_themes"]:.1f} on average); {s["no_theme"]:,} raised none of the codebook's themes.
{s["non_substantive"]:,} comments with no suggestion were excluded and are counted separately.</p>
{charts.theme_chart(t)}
<p class="note">Bars: comments coded to each theme (hand labels where a person coded the comment,
the classifier elsewhere). Orange points and whiskers: the count corrected for the classifier's
measured over- or under-counting, with a {lvl} interval for its error: {basis}. Sub-themes (↳)
are also counted in their parent theme. Themes marked "indicative only" are too uncertain to
quote as more than a direction (the reason is in the last column).</p>
<div class="scroll"><table>
<thead><tr><th>Theme</th><th class="num">Comments</th><th class="num">% of substantive</th>
<th class="num">Corrected estimate</th><th class="num">{lvl} interval</th>
<th class="num">Hand-labelled</th><th class="num">{rates} precision</th>
<th class="num">{rates} recall</th><th>Reliability</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>
</section>"""


def _breakdown_table(data: ReportData, b) -> str:
    head = "".join(
        f'<th class="num{" lowbase" if b.base[g] < data.min_base else ""}">{e(g)}</th>'
        for g in b.groups
    )
    base = "".join(
        f'<td class="num">{b.base[g]:,}{" (low)" if b.base[g] < data.min_base else ""}</td>'
        for g in b.groups
    )
    rows = [f'<tr class="base"><td>Base: substantive comments (n)</td>{base}</tr>']
    for tid in data.order:
        cells = []
        for g in b.groups:
            flag = b.flag.at[tid, g]
            mark = {"higher": " ▲", "lower": " ▼"}.get(flag, "")
            cls = {"higher": "num higher", "lower": "num lower", "low base": "num lowbase"}.get(
                flag, "num"
            )
            cells.append(f'<td class="{cls}">{_pct(b.share.at[tid, g])}{mark}</td>')
        rows.append(f"<tr><td>{e(data.names[tid])}</td>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>Theme</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _breakdowns_section(data: ReportData) -> str:
    if not data.breakdowns:
        return ""
    parts = []
    for b in data.breakdowns:
        how = "weighted %" if b.weighted.any() else "unweighted %"
        notes = f'<p class="note">{" ".join(e(n) for n in b.notes)}</p>' if b.notes else ""
        parts.append(f"""
<h3 id="by-{e(b.column)}">By {e(b.label)} <span class="count">· {how}</span></h3>{notes}
{charts.breakdown_chart(b, data.names, data.order)}
<details><summary>Table: {e(b.label)} (with bases)</summary>
{_breakdown_table(data, b)}</details>""")
    return f"""
<section id="groups"><h2>Differences between groups</h2>
<p>Each cell is the share of a group's substantive comments that raise the theme; n is the
group's base. ▲/▼ mark a group significantly above or below the other groups together
(two-proportion test, Bonferroni-adjusted, 5% level); groups with fewer than {data.min_base}
comments (grey) are shown but never compared.</p>
<p class="note">{e(data.weighting)}</p>
{"".join(parts)}
</section>"""


def _stance_split_table(st: dict, split: dict, data: ReportData) -> str:
    """One grouping's stance shares: bases shown, low bases muted, tested differences marked."""
    t = split["table"]
    names = dict(zip(st["table"]["stance_id"], st["table"]["stance"], strict=True))
    head = "".join(f'<th class="num">{e(n)}</th>' for n in names.values())
    body = []
    for r in t.to_dict("records"):
        cells = []
        for sid in names:
            flag = r[f"flag:{sid}"]
            mark = {"higher": " ▲", "lower": " ▼"}.get(flag, "")
            cls = "num lowbase" if flag == "low base" else "num"
            cells.append(f'<td class="{cls}">{_pct(r[f"share:{sid}"])}{mark}</td>')
        body.append(
            f'<tr><td>{e(r["group"])}</td><td class="num">n={r["base"]:,}</td>{"".join(cells)}</tr>'
        )
    label = {b.column: b.label for b in data.breakdowns}.get(
        split["column"], split["column"].replace("_", " ")
    )  # the breakdown's readable name ("inner-outer London"), never the column's code
    return f"""<h4>By {e(label)}</h4>
<div class="scroll"><table><thead><tr><th>Group</th><th class="num">Base</th>{head}</tr></thead>
<tbody>{"".join(body)}</tbody></table></div>"""


def _stance_section(data: ReportData) -> str:
    parts = []
    lvl = f"{data.level:.0%}"
    for st in data.stances:
        table = st["table"]
        rows = "".join(
            f'<tr><td>{e(r.stance)}</td><td class="num">{r.count:,}</td>'
            f'<td class="num">{_pct(r.share)}</td>'
            f'<td class="num">{r.low:,.0f} – {r.high:,.0f}</td></tr>'
            for r in table.itertuples(index=False)
        )
        rows += (
            '<tr class="base"><td>No stance recorded</td>'
            f'<td class="num">{st["without_stance"]:,}</td><td></td><td></td></tr>'
        )
        title = f"{st['theme']}: stance split"
        if st["low_base"]:
            title += f" (base {st['with_stance']} under {data.min_base}: indicative only)"
        chart = charts.stance_chart(table, title) if st["with_stance"] else ""
        warning = (
            f'<p class="note"><strong>Small base:</strong> stance is known for only '
            f"{st['with_stance']:,} comments (under {data.min_base}); read the split as a "
            "direction, not a finding.</p>"
            if st["low_base"]
            else ""
        )
        splits = "".join(_stance_split_table(st, sp, data) for sp in st.get("splits", []))
        parts.append(f"""
<h3>{e(st["theme"])}: {st["in_theme"]:,} comments, stance known for {st["with_stance"]:,}</h3>
{warning}{chart}
<div class="scroll"><table><thead><tr><th>Stance</th><th class="num">Comments</th>
<th class="num">% with a stance</th><th class="num">{lvl} interval</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<p class="note">Stance from {e(st["source"])}. Intervals: Wilson, on the share among comments
with a stance. By group: weighted shares among comments with a stance; ▲/▼ where a z-test
against the other groups (Bonferroni-adjusted) finds a difference; groups under
{data.min_base} are shown muted and never compared.</p>{splits}""")
    if not parts:
        return ""
    return f'<section id="stance"><h2>Stance within themes</h2>{"".join(parts)}</section>'


def _quotes_section(data: ReportData) -> str:
    parts = []
    for r in data.themes.itertuples(index=False):
        quotes = data.quotes_for(r.theme_id)
        items = []
        for q in quotes.itertuples(index=False):
            src = f"Comment {e(q.comment_id)}" + (f" · {e(q.route)}" if q.route else "")
            if q.stance:
                src += f" · stance: {e(q.stance)}"
            if q.redacted:
                src += " · personal data removed"
            items.append(
                f'<blockquote><p>“{e(q.quote)}”</p><span class="src">{src}</span></blockquote>'
            )
        if not items:
            items.append('<p class="note">No comment in this theme could be quoted safely.</p>')
        response = data.response_for(r.theme_id)
        wedid = (
            f"<b>We did:</b> {e(response)}"
            if response
            else f'<b>We did:</b> <span class="pending">{e(PENDING)}</span>'
        )
        parent = (
            f'<span class="tag">part of {e(data.names[r.parent_id])}</span>' if r.parent_id else ""
        )
        parts.append(f"""
<div class="theme" id="q-{e(r.theme_id)}">
<h3>{e(r.theme)} <span class="count">· {r.count:,} comments
({_pct(r.share)})</span>{parent}</h3>{html_theme(data, r.theme_id)}{"".join(items)}
<div class="wedid">{wedid}</div></div>""")
    return f"""
<section id="quotes"><h2>In their words</h2>
<p class="note">Quotes are chosen to be typical of each theme and different from each other;
long comments are shortened at a sentence end (marked …) and names, contact details, addresses,
postcodes and vehicle registrations are removed.</p>{"".join(parts)}</section>"""


def render_html(data: ReportData) -> str:
    notes = "".join(f"<li>{e(n)}</li>" for n in data.notes)
    nav = [
        ("themes", "Themes"),
        ("groups", "By group"),
        ("stance", "Stance"),
        ("quotes", "Quotes"),
        ("emerging", "Other issues"),
        ("method", "Method"),
    ]
    if not data.stances:
        nav = [n for n in nav if n[0] != "stance"]
    if not data.breakdowns:
        nav = [n for n in nav if n[0] != "groups"]
    links = "".join(f'<a href="#{a}">{e(b)}</a>' for a, b in nav)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{e(data.title)}: consultation report</title>
<style>{CSS}</style></head>
<body>
<header><div class="wrap"><h1>{e(data.title)}</h1>
<p class="question">Question: {e(data.question)}</p>
<p class="meta">Report built {e(data.generated)} ·
classifier {e(data.summary["model_version"])}</p></div></header>
<nav><div class="wrap">{links}</div></nav>
<main class="wrap">
{_cards(data)}
{_themes_section(data)}
{_breakdowns_section(data)}
{_stance_section(data)}
{_quotes_section(data)}
{html_emerging(data)}
<section id="method"><h2>Method and notes</h2><ul class="notes">{notes}</ul></section>
</main>
<footer><div class="wrap">Made with yousaid. Counts are of comments; percentages are of substantive
comments. Every number here is also in themes.xlsx.</div></footer>
</body></html>
"""
