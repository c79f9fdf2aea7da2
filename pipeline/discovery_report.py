"""Writing discovery results for analysts: a formatted workbook, a self-contained HTML page, a
JSON sidecar for `yousaid codebook suggest`, candidate themes as paste-ready codebook YAML, and a
starter codebook for a question that has none yet.

Every file is written atomically; comment texts are redacted (`shareable`), text cells are
neutralised against formula injection and all text in HTML is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.codebook import Codebook
from pipeline.discover import Discovery, topic_name, topic_slug
from pipeline.sheets import write_sheet
from pipeline.tables import atomic_path

WIDE = 70  # characters: comment text columns wrap at this width
PERCENT_COLUMNS = ("share", "nearest_theme_share", "zeroshot_share")
DECIMAL_COLUMNS = ("cohesion", "similarity_to_topic", "best_theme_similarity")
STARTER_MAX_THEMES = 15  # more than this is a list of topics, not a codebook to edit
STARTER_QUOTE_CHARS = 100  # example comments in a starter theme's description


def shareable(
    result: Discovery,
    allow: Sequence[str] = (),
    patterns: Mapping[str, str] | None = None,
    known: Mapping[str, str] | None = None,
) -> Discovery:
    """The result with every comment text redacted: what the workbook, page and JSON may show.

    Why here and not in `discover`: the topics are fitted on what people wrote; only what is
    written out for others to read must name no one. `known`: texts already redacted (text ->
    redacted text), which are not redacted again.
    """
    from pipeline.privacy import redact_many

    texts = pd.concat([result.examples["text"], result.assignments["text"]], ignore_index=True)
    redacted = dict(known or {})
    unique = [t for t in dict.fromkeys(texts.astype(str)) if t not in redacted]
    found = redact_many(unique, allow=allow, patterns=patterns) if unique else []
    redacted.update(zip(unique, (r.text for r in found), strict=True))
    return replace(
        result,
        examples=result.examples.assign(text=result.examples["text"].astype(str).map(redacted)),
        assignments=result.assignments.assign(
            text=result.assignments["text"].astype(str).map(redacted)
        ),
    )


def _with_examples(table: pd.DataFrame, examples: pd.DataFrame, n: int) -> pd.DataFrame:
    """Add example_1..n columns ("[id] text") from the tidy examples table."""
    out = table.copy()
    for rank in range(1, n + 1):
        shown = examples[examples["rank"] == rank].set_index("topic")
        text = "[" + shown["id"].astype(str) + "] " + shown["text"].astype(str)
        lookup = text.to_dict()
        out[f"example_{rank}"] = [lookup.get(t, "") for t in out["topic"]]
    return out


def sheets(result: Discovery, n_examples: int = 5) -> dict[str, pd.DataFrame]:
    """The workbook's sheets as frames (also what tests read back)."""
    summary = pd.DataFrame(
        [
            {"item": k, "value": ", ".join(v) if isinstance(v, list) else v}
            for k, v in result.summary.items()
        ]
    )
    return {
        "themes": result.themes,
        "topics": _with_examples(result.topics, result.examples, n_examples),
        "new_theme_candidates": _with_examples(result.candidates, result.examples, n_examples),
        "assignments": result.assignments,
        "summary": summary,
    }


def write_xlsx(result: Discovery, path: str | Path, n_examples: int = 5) -> Path:
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets(result, n_examples).items():
        formats = {c: "0.0%" for c in PERCENT_COLUMNS if c in frame.columns}
        formats.update({c: "0.00" for c in DECIMAL_COLUMNS if c in frame.columns})
        wrap = tuple(
            c for c in frame.columns if frame[c].astype(str).head(500).str.len().max() > WIDE
        )
        write_sheet(wb.create_sheet(name), frame, formats, wrap=wrap, max_width=WIDE)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path


def candidate_records(result: Discovery) -> list[dict[str, Any]]:
    """Candidates with their keywords and example comments, as plain data."""
    return _topic_records(result, result.candidates)


def _topic_records(result: Discovery, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a topic table that has suggested ids and names, with their examples, as data."""
    records = []
    for row in table.itertuples(index=False):
        shown = result.examples[result.examples["topic"] == row.topic]
        records.append(
            {
                "topic": int(row.topic),
                "suggested_id": row.suggested_id,
                "suggested_name": row.suggested_name,
                "size": int(row.size),
                "share": round(float(row.share), 4),
                "keywords": [k for k in row.keywords.split(", ") if k],
                "nearest_theme": row.nearest_theme,
                "nearest_theme_share": float(row.nearest_theme_share),
                "examples": [
                    {"id": i, "text": t} for i, t in zip(shown["id"], shown["text"], strict=True)
                ],
            }
        )
    return records


def write_json(result: Discovery, path: str | Path) -> Path:
    path = Path(path)
    payload = {
        "summary": result.summary,
        "themes": result.themes.to_dict(orient="records"),
        "candidates": candidate_records(result),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_candidates(path: str | Path) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["candidates"]


def _theme_entry(record: dict[str, Any], description: str, n_seeds: int) -> dict[str, Any]:
    """A codebook theme entry drafted from one topic record; `seeds` are its top keywords."""
    return {
        "id": record["suggested_id"],
        "name": record["suggested_name"],
        "description": description,
        "seeds": record["keywords"][:n_seeds],
    }


def _codebook_yaml(header: str, entries: list[dict[str, Any]], **top: Any) -> str:
    """Header comments, then `themes:` (after any top-level keys), as the codebook loader reads it."""
    body = yaml.safe_dump(
        {**top, "themes": entries},
        sort_keys=False,
        allow_unicode=True,
        width=96,
        default_flow_style=None,
    )
    return header + body


def suggestions_yaml(
    candidates: list[dict[str, Any]], codebook: Codebook | None = None, n_seeds: int = 8
) -> str:
    """Candidate themes as codebook entries; drafts for the analyst to edit, not finished themes."""
    entries = []
    for c in candidates:
        keywords = c["keywords"]
        nearest = codebook.by_id.get(c["nearest_theme"]) if codebook is not None else None
        nearest_text = (
            f" The nearest existing theme is '{nearest.name}' ({c['nearest_theme_share']:.0%} of "
            "these comments are closest to it): check it is really different."
            if nearest
            else ""
        )
        description = (
            f"DRAFT from {c['size']} comments ({c['share']:.1%}) that mention "
            f"{', '.join(keywords[:5])}.{nearest_text} Rewrite before adding."
        )
        entry = _theme_entry(c, description, n_seeds)
        entry["examples"] = [e["id"] for e in c["examples"]]
        entries.append(entry)
    where = (codebook.path if codebook is not None else "") or "codebook.yaml"
    header = (
        f"# Candidate new themes from `yousaid discover` ({dt.date.today().isoformat()}).\n"
        "# Edit the name, description and seeds, then paste the entries you keep under `themes:`\n"
        f"# in {where}. `examples` lists comment ids to read.\n"
    )
    return _codebook_yaml(header, entries)


def starter_topics(result: Discovery, max_themes: int = STARTER_MAX_THEMES) -> pd.DataFrame:
    """The real topics worth a theme (not the outliers), largest first, with ids and names.

    Named like new-theme candidates: from the topic's keyphrases ("knife crime"), or its keywords
    when no phrase is shared by two comments. Topics smaller than the candidate size are left out
    unless nothing else was found.
    """
    real = result.topics[result.topics["topic"] != -1]
    useful = real[real["size"] >= int(result.summary.get("candidate_min_size", 1))]
    chosen = (useful if len(useful) else real).sort_values(
        ["size", "topic"], ascending=[False, True], kind="stable"
    )
    chosen = chosen.head(max_themes).copy()
    taken: set[str] = set()
    phrases = chosen["phrases"] if "phrases" in chosen else pd.Series("", index=chosen.index)
    names = chosen["name"] if "name" in chosen else pd.Series("", index=chosen.index)
    chosen["suggested_id"] = [
        topic_slug(p, k, taken, n)
        for p, k, n in zip(phrases, chosen["keywords"], names, strict=True)
    ]
    chosen["suggested_name"] = [
        topic_name(n, k, t)
        for n, k, t in zip(names, chosen["keywords"], chosen["topic"], strict=True)
    ]
    return chosen.reset_index(drop=True)


def _quoted(text: str, max_chars: int = STARTER_QUOTE_CHARS) -> str:
    """A comment as it may appear in a codebook: redacted, and shortened between words (…)."""
    from pipeline.privacy import redact
    from pipeline.report.quotes import ELLIPSIS, _cut_at_word

    text = " ".join(redact(text).text.split())
    if len(text) <= max_chars:
        return text
    return _cut_at_word(text, max_chars - 1).rstrip(" ,;:-–—(") + ELLIPSIS


def starter_codebook(result: Discovery, question: str = "", n_seeds: int = 8) -> str:
    """YAML of a first codebook drafted from the discovered topics, for the analyst to edit.

    A new question has no codebook; themes named from each topic's keywords, described by its
    most typical comments, are faster to edit than a blank page. Same result, same bytes.
    """
    records = _topic_records(result, starter_topics(result))
    # a keyword of many topics ("police") tells no theme apart: it is no use as a seed
    spread = Counter(k for r in records for k in set(r["keywords"]))
    common = {k for k, n in spread.items() if n >= max(3, len(records) / 5)}
    entries = []
    for r in records:
        quotes = " and ".join(f'"{_quoted(e["text"])}"' for e in r["examples"][:2])
        description = (
            f"Draft from discovery: comments such as {quotes}. "
            if quotes
            else "Draft from discovery. "
        ) + f"{r['size']} comments ({r['share']:.1%}); keywords: {', '.join(r['keywords'][:5])}."
        distinct = [k for k in r["keywords"] if k not in common]
        seeds = distinct if len(distinct) >= 3 else r["keywords"]
        entries.append(_theme_entry({**r, "keywords": seeds}, description, n_seeds))
    s = result.summary
    header = (
        "# Starter codebook: a DRAFT written by `yousaid discover` from the topics it found\n"
        f"# ({len(entries)} largest of {s.get('topics', len(entries))} topics in "
        f"{s.get('comments', '?')} comments, seed {s.get('seed', '?')}). It is not a finished "
        "codebook.\n"
        "# Before labelling, edit it: rename themes so a colleague would code the same comments,\n"
        "# merge themes that are one idea, delete those that are not themes, describe each one\n"
        "# (what belongs in it and what does not) and check its seeds. Settle the ids now:\n"
        "# labels are stored by theme id. Quoted comments are redacted and shortened (…).\n"
    )
    if not entries:
        header += "# Discovery found no topics: write the themes yourself.\n"
    top = {"question": question} if question else {}
    return _codebook_yaml(header, entries, **top)


def write_suggestions(text: str, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1b1b;
max-width:1200px} h1{font-size:1.6rem} h2{margin-top:2rem;border-bottom:2px solid #dde4ee}
table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{border:1px solid #ccd;
padding:.35rem .5rem;vertical-align:top;text-align:left} th{background:#dde4ee}
.num{text-align:right;white-space:nowrap} .new{background:#fff4d6} .muted{color:#666}
ol{margin:.2rem 0 .2rem 1.2rem;padding:0} .kw{font-family:ui-monospace,monospace;font-size:.85rem}
.card{border:1px solid #ccd;border-left:6px solid #e0a800;padding:.6rem 1rem;margin:1rem 0}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _examples_html(examples: pd.DataFrame, topic: int) -> str:
    shown = examples[examples["topic"] == topic]
    items = "".join(
        f"<li><span class='muted'>[{_e(i)}]</span> {_e(t)}</li>"
        for i, t in zip(shown["id"], shown["text"], strict=True)
    )
    return f"<ol>{items}</ol>" if items else ""


def rolled_up(result: Discovery, codebook: Codebook | None = None) -> pd.DataFrame:
    """The result's roll-up of topics per theme (rebuilt from its topics if it has none)."""
    from pipeline.discover import roll_up

    if not result.themes.empty:
        return result.themes
    themes = list(codebook.themes) if codebook is not None else []
    return roll_up(result.topics, themes, int(result.topics["size"].sum()))


def counts(rolled: pd.DataFrame) -> dict[str, Any]:
    """Every count the page states, from the roll-up alone, so no two of them can disagree."""
    book = rolled[rolled["kind"] == "codebook"]
    new = rolled[rolled["kind"] == "new"]
    outliers = rolled[rolled["kind"] == "outliers"]
    return {
        "comments": int(rolled["comments"].sum()),
        "codebook_themes": len(book),
        "themes_found": int((book["topics"] > 0).sum()),
        "themes_not_found": book.loc[book["topics"] == 0, "theme_id"].tolist(),
        "codebook_topics": int(book["topics"].sum()),
        "new_topics": int(new["topics"].sum()),
        "topics": int(book["topics"].sum() + new["topics"].sum()),
        "outlier_share": float(outliers["share"].sum()),
    }


def _codebook_lines(c: dict[str, Any], s: dict[str, Any]) -> list[str]:
    """Summary lines about the codebook; with none, nothing is claimed found or missing."""
    if not c["codebook_themes"]:
        return [
            f"<li>No codebook yet (0 codebook themes): all {c['topics']} topics are new; "
            f"{s['candidates']} have at least {s['candidate_min_size']} comments and are "
            "proposed as themes</li>"
        ]
    missing = c["themes_not_found"]
    return [
        f"<li>Codebook themes found: {c['themes_found']} of {c['codebook_themes']}, as "
        f"{c['codebook_topics']} topics"
        + (f"; not found: {_e(', '.join(missing))}" if missing else "")
        + "</li>",
        f"<li>{c['topics']} topics: {c['codebook_topics']} match codebook themes, "
        f"{c['new_topics']} do not; {s['candidates']} new-theme candidates with at least "
        f"{s['candidate_min_size']} comments</li>",
    ]


def _themes_html(rolled: pd.DataFrame) -> str:
    """The roll-up as a table: each codebook theme with its topics, then new topics, outliers."""
    new = " class='new'"
    rows = "".join(
        f"<tr{new if r.kind == 'new' else ''}><td>{_e(r.theme)}"
        + (f" <span class='muted'>({_e(r.theme_id)})</span>" if r.kind == "codebook" else "")
        + f"</td><td class='num'>{r.topics}</td><td class='num'>{r.comments}</td>"
        f"<td class='num'>{r.share:.1%}</td><td>{_e(r.labels)}</td></tr>"
        for r in rolled.itertuples(index=False)
    )
    return (
        "<h2>Topics per theme</h2><table><thead><tr><th>Theme</th><th>Topics</th>"
        "<th>Comments</th><th>Share</th><th>The topics (named from their comments)</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def render_html(result: Discovery, codebook: Codebook | None = None) -> str:
    s = result.summary
    rolled = rolled_up(result, codebook)
    c = counts(rolled)
    names = {t.id: t.name for t in codebook.themes} if codebook is not None else {}
    title = (codebook.name if codebook is not None else "") or "consultation"
    question = codebook.question if codebook is not None else ""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e('Theme discovery - ' + title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Theme discovery: {_e(title)}</h1>",
        f"<p>{_e(question)}</p>" if question else "",
        _themes_html(rolled),
        "<h2>Summary</h2><ul>",
        f"<li>{c['comments']} substantive comments ({s['excluded_non_substantive']} "
        "non-answers left out)</li>",
        *_codebook_lines(c, s),
        f"<li>Outliers (no topic): {s['outlier_share_before_reduction']:.1%} after clustering, "
        f"{c['outlier_share']:.1%} after reassigning close ones</li>",
        f"<li>Seed {s['seed']}; minimum topic size {s['min_topic_size']}</li></ul>",
        "<h2>New-theme candidates</h2>",
    ]
    if result.candidates.empty:
        parts.append("<p>No cluster outside the codebook is large enough to propose.</p>")
    for row in result.candidates.itertuples(index=False):
        nearest = names.get(row.nearest_theme, row.nearest_theme)
        nearest_text = (
            f" Nearest existing theme: {_e(nearest)} ({row.nearest_theme_share:.0%} of these "
            "comments are closest to it)."
            if nearest
            else ""
        )
        parts.append(
            f"<div class='card'><h3>{_e(row.suggested_name)} <span class='muted'>"
            f"({_e(row.suggested_id)})</span></h3>"
            f"<p>{row.size} comments ({row.share:.1%}). Keywords: <span class='kw'>"
            f"{_e(row.keywords)}</span>.{nearest_text} Cohesion "
            f"{row.cohesion:.2f} (mean similarity to the cluster's centre; low means mixed).</p>"
            f"{_examples_html(result.examples, row.topic)}</div>"
        )
    parts.append(
        "<h2>All topics</h2><table><thead><tr><th>Topic</th><th>Size</th><th>Share</th>"
        "<th>Codebook theme</th><th>Keywords</th><th>Representative comments</th></tr></thead>"
        "<tbody>"
    )
    for row in result.topics.itertuples(index=False):
        theme = row.theme_id
        shown = "new" if theme == "new" else names.get(theme, theme) or "(outliers)"
        cls = " class='new'" if theme == "new" else ""
        parts.append(
            f"<tr{cls}><td>{_e(row.topic)}: {_e(row.label)}</td><td class='num'>{row.size}</td>"
            f"<td class='num'>{row.share:.1%}</td><td>{_e(shown)}<br><span class='muted'>"
            f"{_e(row.matched_by)}</span></td><td class='kw'>{_e(row.keywords)}</td>"
            f"<td>{_examples_html(result.examples, row.topic)}</td></tr>"
        )
    parts.append("</tbody></table></body></html>\n")
    return "".join(parts)


def write_html(result: Discovery, codebook: Codebook | None, path: str | Path) -> Path:
    path = Path(path)
    text = render_html(result, codebook)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
