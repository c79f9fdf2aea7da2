"""The analyst's report: theme counts with uncertainty, group breakdowns, stance, quotes, and
"you said, we did", written to reports/ as themes.xlsx, report.html, you_said_we_did.docx/.md.

`assemble` is pure (frames in, ReportData out); `build_report` does the reading and the atomic
writing around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, load_codebook
from pipeline.report.breakdowns import breakdown
from pipeline.report.counts import stance_tables, summary_counts, theme_counts
from pipeline.report.inputs import (
    QuoteRules,
    apply_hand_labels,
    load_embeddings,
    read_coded,
    read_hand_labels,
    read_metrics,
    read_quote_rules,
    read_responses,
)
from pipeline.report.model import ReportData
from pipeline.report.quotes import QuoteConfig, choose_quotes
from pipeline.report.weights import effective_weights

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "group_by": ["route", "age_band", "gender", "ethnicity", "inner_outer"],
    "weight": "weight",
    "weight_stratum": "route",
    "min_base": 30,
    "alpha": 0.05,
    "level": 0.95,
    "bootstrap": 2000,
    "prior_strength": 10,
    "n_quotes": 3,
    "quote_max_chars": 280,
    "quote_min_prob": 0.6,
    "quote_diversity": 0.3,
    "personal_data_column": "personal_data",
}

OUTPUTS = {
    "xlsx": "themes.xlsx",
    "html": "report.html",
    "docx": "you_said_we_did.docx",
    "md": "you_said_we_did.md",
}


def _notes(
    data_frame: pd.DataFrame,
    summary: dict,
    metrics: dict | None,
    cfg: dict,
    weight_notes: list[str],
    skipped: list[str],
    level: float,
) -> list[str]:
    lvl = f"{level:.0%}"
    n_lab = (metrics or {}).get("n_labelled")
    s, a = summary, cfg
    labels = f" ({n_lab:,} labelled comments)" if n_lab else ""
    notes = [
        f"Counts are numbers of comments. A comment can count in several themes. Percentages "
        f"are of the {s['substantive']:,} substantive comments; {s['non_substantive']:,} "
        "comments with no suggestion (e.g. 'No', 'Don't know') are excluded from themes and "
        "counted separately.",
        f"Hand labels replace the classifier's codes for the {s['hand_labelled']:,} "
        "substantive comments a person coded; those count as certain. The classifier codes "
        "the rest.",
        "Sub-themes are counted within their parent theme too (a comment about a closed police "
        "station counts in 'More officers and visibility' as well).",
        "Corrected estimate: hand-labelled count + model-coded count x precision / recall, "
        f"with precision and recall measured by cross-validation on the hand labels{labels} "
        "and, because a theme with few labels gives noisy rates, shrunk towards the "
        f"classifier's rates over all themes as if {a['prior_strength']:g} more labelled "
        f"examples behaved like the average theme. The {lvl} interval is a bootstrap over the "
        "uncertainty of those rates and of which predictions are right. Themes where "
        "cross-validation gives nothing usable (the classifier found none of the theme's "
        "labelled examples) use the classifier's calibrated probabilities instead (their sum; "
        "interval from drawing each comment's code).",
        *weight_notes,
        f"Group differences: each group with at least {a['min_base']} comments is compared "
        "with the other such groups together (two-proportion z-test on weighted shares with "
        "Kish effective sample sizes, Bonferroni-adjusted over all themes x groups in that "
        f"breakdown, {a['alpha']:.0%} level). Smaller groups are shown with their base but "
        "never compared.",
        "Quotes: typical of the theme (close to the centre of its confident comments in "
        "embedding space), varied (no near-duplicates), shortened at sentence ends with '…', "
        "and redacted of names, emails, phone numbers, postcodes, addresses and vehicle "
        "registrations by offline rules. Analysts pin or ban quotes in labels/quotes.yaml.",
        f"Classifier version: {s['model_version']}. {s['needs_review']:,} model-coded "
        "comments are flagged for review (a theme decision likely to be wrong, classifier.review_doubt).",
    ]
    if skipped:
        notes.append(f"Grouping columns not in the data, skipped: {', '.join(skipped)}.")
    return notes


def assemble(
    coded: pd.DataFrame,
    codebook: Codebook,
    *,
    labelled: pd.DataFrame | None = None,
    metrics: dict | None = None,
    embeddings: np.ndarray | None = None,
    rules: QuoteRules | None = None,
    responses: dict[str, str] | None = None,
    cfg: dict[str, Any] | None = None,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> ReportData:
    """Everything the report shows, from the coded comments and the analyst's files.

    `progress`, if given, is called with the name of each part as it is done (for a progress bar).
    """
    cfg = {**DEFAULTS, **(cfg or {})}
    tick = progress or (lambda _part: None)
    frame = apply_hand_labels(coded, labelled, codebook)
    summary = summary_counts(frame, codebook)
    themes = theme_counts(
        frame,
        codebook,
        metrics,
        n_boot=int(cfg["bootstrap"]),
        seed=seed,
        level=float(cfg["level"]),
        prior_strength=float(cfg["prior_strength"]),
    )
    order = themes["theme_id"].tolist()
    tick("counts")

    sub = frame[frame["substantive"]]
    weights = np.ones(len(frame))
    w_sub, weight_notes = effective_weights(sub, cfg["weight"], cfg.get("weight_stratum"))
    weights[frame["substantive"].to_numpy()] = w_sub
    group_by = [c for c in cfg.get("group_by") or [] if c in frame.columns]
    skipped = [c for c in cfg.get("group_by") or [] if c not in frame.columns]
    for col in skipped:
        log.warning("report.group_by: column '%s' is not in the coded data; skipped", col)
    breakdowns = [
        breakdown(
            frame, weights, order, col, min_base=int(cfg["min_base"]), alpha=float(cfg["alpha"])
        )
        for col in group_by
    ]
    tick("breakdowns")
    qcfg = QuoteConfig(
        n_quotes=int(cfg["n_quotes"]),
        max_chars=int(cfg["quote_max_chars"]),
        min_prob=float(cfg["quote_min_prob"]),
        diversity=float(cfg["quote_diversity"]),
        personal_data_column=str(cfg["personal_data_column"]),
    )
    names = dict(zip(themes["theme_id"], themes["theme"], strict=True))
    stance_names = {f"{t.id}:{st.id}": st.name for t in codebook.themes for st in t.stances}
    quotes = choose_quotes(
        frame, order, names, embeddings, rules or QuoteRules(), qcfg, stance_names
    )
    tick("quotes")
    return ReportData(
        title=codebook.name or "Consultation report",
        question=codebook.question,
        generated=date.today().isoformat(),
        summary=summary,
        themes=themes,
        breakdowns=breakdowns,
        stances=stance_tables(frame, codebook),
        quotes=quotes,
        responses=responses or {},
        notes=_notes(frame, summary, metrics, cfg, weight_notes, skipped, float(cfg["level"])),
        min_base=int(cfg["min_base"]),
        level=float(cfg["level"]),
        weighting=weight_notes[0] if weight_notes else "",
    )


def write_outputs(data: ReportData, out_dir: str | Path, n_quotes: int = 3) -> dict[str, Path]:
    """Each file written beside its target and renamed into place: never half a report."""
    from pipeline.report.docx import render_markdown, write_docx
    from pipeline.report.html import render_html
    from pipeline.report.xlsx import write_xlsx
    from pipeline.tables import write_atomic

    out_dir = Path(out_dir)
    paths = {k: out_dir / v for k, v in OUTPUTS.items()}
    html = render_html(data)
    markdown = render_markdown(data, n_quotes)
    write_atomic(paths["xlsx"], lambda p: write_xlsx(data, p))
    write_atomic(paths["html"], lambda p: p.write_text(html, encoding="utf-8"))
    write_atomic(paths["docx"], lambda p: write_docx(data, p, n_quotes))
    write_atomic(paths["md"], lambda p: p.write_text(markdown, encoding="utf-8"))
    return paths


def build_report(
    coded: str | Path,
    codebook: str | Path,
    out_dir: str | Path = "reports",
    *,
    labelled: str | Path | None = None,
    metrics: str | Path | None = None,
    embeddings: str | Path | None = None,
    responses: str | Path | None = None,
    quotes: str | Path | None = None,
    cfg: dict[str, Any] | None = None,
    seed: int = 42,
    progress: bool = True,
) -> dict[str, Path]:
    """Read the inputs, assemble the report, write the four files; returns their paths."""
    from tqdm import tqdm

    with tqdm(total=5, desc="report", unit="step", disable=not progress) as bar:

        def done(part: str) -> None:
            bar.set_postfix_str(part)
            bar.update()

        book = load_codebook(codebook)
        frame = read_coded(coded, book)
        inputs = {
            "labelled": read_hand_labels(labelled, book),
            "metrics": read_metrics(metrics),
            "embeddings": load_embeddings(embeddings, frame["id"].tolist()),
            "rules": read_quote_rules(quotes, book),
            "responses": read_responses(responses, book),
        }
        done("read")
        data = assemble(frame, book, **inputs, cfg=cfg, seed=seed, progress=done)
        written = write_outputs(data, out_dir, int({**DEFAULTS, **(cfg or {})}["n_quotes"]))
        done("written")
    return written
