"""The analyst's report: theme counts with uncertainty, group breakdowns, stance, quotes, and
"you said, we did", written to reports/ as themes.xlsx, report.html, you_said_we_did.docx/.md.

`assemble` is pure (frames in, ReportData out); `build_report` does the reading and the atomic
writing around it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, load_codebook
from pipeline.report.breakdowns import breakdown
from pipeline.report.counts import audited, stance_tables, summary_counts, theme_counts
from pipeline.report.inputs import (
    QuoteRules,
    apply_hand_labels,
    load_embeddings,
    read_coded,
    read_hand_labels,
    read_metrics,
    read_quote_rules,
    read_responses,
    read_summaries,
)
from pipeline.report.keypoints import drafts, emerging, emerging_json, key_points
from pipeline.report.model import ReportData
from pipeline.report.quotes import QuoteConfig, choose_quotes
from pipeline.report.weights import effective_weights
from pipeline.settings import ReportSettings
from pipeline.workspace import REPORT_FILES

log = logging.getLogger(__name__)

OUTPUTS = REPORT_FILES


def _notes(
    data_frame: pd.DataFrame,
    summary: dict,
    metrics: dict | None,
    cfg: ReportSettings,
    weight_notes: list[str],
    skipped: list[str],
) -> list[str]:
    lvl = f"{cfg.level:.0%}"
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
        f"classifier's rates over all themes as if {a.prior_strength:g} more labelled "
        f"examples behaved like the average theme. The {lvl} interval is a bootstrap over the "
        "uncertainty of those rates and of which predictions are right. Themes where "
        "cross-validation gives nothing usable (the classifier found none of the theme's "
        "labelled examples) use the classifier's calibrated probabilities instead (their sum; "
        "interval from drawing each comment's code).",
        *weight_notes,
        f"Group differences: each group with at least {a.min_base} comments is compared "
        "with the other such groups together (two-proportion z-test on weighted shares with "
        "Kish effective sample sizes, Bonferroni-adjusted over all themes x groups in that "
        f"breakdown, {a.alpha:.0%} level). Smaller groups are shown with their base but "
        "never compared.",
        "Quotes: typical of the theme (close to the centre of its confident comments in "
        "embedding space), varied (no near-duplicates), shortened at sentence ends with '…', "
        "and redacted of personal data (names, emails, phone numbers, addresses, postcodes, "
        "vehicle registrations, NI numbers, dates of birth, social-media handles, officers' "
        "numbers) offline, by presidio's recognisers, spaCy's named-entity model and UK rules. "
        "Analysts pin or ban quotes in the question's quotes.yaml.",
        f"Classifier version: {s['model_version']}. {s['needs_review']:,} model-coded "
        "comments are flagged for review (a theme decision likely to be wrong, classifier.review_doubt).",
    ]
    if skipped:
        notes.append(f"Grouping columns not in the data, skipped: {', '.join(skipped)}.")
    return notes


KEY_POINTS_NOTE = (
    "Key points: each theme's comments are grouped by meaning (k-means on their embeddings, "
    "3 to 8 groups chosen by silhouette; 1 or 2 for small themes), so every comment is in "
    "exactly one key point. Labels are the noun phrases most distinctive of the group within "
    "the theme (in a theme of more than 2,000 comments, among a random 2,000 of them); the "
    "quote is the comment nearest the group's centre. The paragraph is a draft "
    "built from them unless the analyst wrote one (summaries.yaml). 'Other issues raised' "
    "lists groups of comments coded to no theme that are clearly alike: on average more alike "
    "than two such comments picked at random, by at least 0.85 standard deviations of their "
    "similarity (average-linkage clustering); a comment like no other is in no group, and only "
    "groups of a useful size are listed."
)


def _labels_note(labelled: pd.DataFrame | None) -> str:
    """How the hand labels were gathered: a reader can judge the counts' footing from it."""
    from pipeline.labelled import stream_summary

    if labelled is None or not len(labelled):
        return "Hand labels: none; every count is the classifier's."
    s = stream_summary(labelled)
    accepted = (
        f"; of the {s['train_with_suggestion']:,} shown the classifier's suggestion, "
        f"{s['accepted_unchanged']:.0%} kept it unchanged"
        if s["accepted_unchanged"] is not None
        else ""
    )
    audit = (
        f"{s['audit']:,} from a blind random audit sample (no suggestions shown), which the "
        "counts and the precision and recall are checked against"
        if s["audit"]
        else "none from a random audit sample, so the counts are model-based, not validated by "
        "a random sample"
    )
    return f"Hand labels: {s['train']:,} chosen to train the classifier{accepted}; {audit}."


def _comments_frame(
    frame: pd.DataFrame,
    order: list[str],
    names: dict[str, str],
    group_cols: list[str],
    redacted: Sequence[str],
) -> pd.DataFrame:
    """Every comment with its final themes, redacted: the workbook must not leak what quotes hide."""
    codes = [f"code_{t}" for t in order if f"code_{t}" in frame.columns]
    themes = [
        "; ".join(names[c.removeprefix("code_")] for c in codes if row[c] == 1)
        for row in frame[codes].fillna(0).astype(int).to_dict("records")
    ]
    review = (
        frame["needs_review"].fillna(0).astype(bool)
        if "needs_review" in frame.columns
        else pd.Series(False, index=frame.index)
    )
    if "hand_labelled" in frame.columns:
        review &= ~frame["hand_labelled"].astype(bool)
    out = pd.DataFrame({"id": frame["id"].astype(str).to_numpy()})
    for col in group_cols:
        out[col] = frame[col].to_numpy()
    out["substantive"] = frame["substantive"].astype(bool).to_numpy()
    out["themes"] = themes
    out["needs_review"] = review.to_numpy()
    out["text"] = list(redacted)
    return out


def assemble(
    coded: pd.DataFrame,
    codebook: Codebook,
    *,
    labelled: pd.DataFrame | None = None,
    metrics: dict | None = None,
    embeddings: np.ndarray | None = None,
    rules: QuoteRules | None = None,
    responses: dict[str, str] | None = None,
    summaries: dict[str, str] | None = None,
    cfg: ReportSettings | None = None,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
    title: str | None = None,
    question: str | None = None,
    group_by: list[str] | None = None,
    redaction_allow: Sequence[str] = (),
    redaction_patterns: Mapping[str, str] | None = None,
) -> ReportData:
    """Everything the report shows, from the coded comments and the analyst's files.

    `title` and `question` come from the workspace (else the codebook); `group_by` is
    `cfg.group_by` when set, else these columns. `progress`, if given, is called with the name of
    each part as it is done (for a progress bar). `redaction_allow`: names quotes may show
    (the workspace's `redaction_allow`).
    """
    cfg = cfg or ReportSettings()
    wanted = list(cfg.group_by if cfg.group_by is not None else group_by or [])
    tick = progress or (lambda _part: None)
    frame = apply_hand_labels(coded, labelled, codebook)
    summary = summary_counts(frame, codebook)
    themes = theme_counts(
        frame,
        codebook,
        metrics,
        n_boot=cfg.bootstrap,
        seed=seed,
        level=cfg.level,
        prior_strength=cfg.prior_strength,
    )
    themes = audited(themes, frame, coded, cfg.level)
    order = themes["theme_id"].tolist()
    tick("counts")

    sub = frame[frame["substantive"]]
    weights = np.ones(len(frame))
    w_sub, weight_notes = effective_weights(sub, "weight", cfg.weight_stratum)
    weights[frame["substantive"].to_numpy()] = w_sub
    present = [c for c in wanted if c in frame.columns]
    skipped = [c for c in wanted if c not in frame.columns]
    for col in skipped:
        log.warning("report.group_by: column '%s' is not in the coded data; skipped", col)
    breakdowns = [
        breakdown(
            frame, weights, order, col, min_base=cfg.min_base, alpha=cfg.alpha, level=cfg.level
        )
        for col in present
    ]
    tick("breakdowns")
    qcfg = QuoteConfig(
        n_quotes=cfg.n_quotes,
        max_chars=cfg.quote_max_chars,
        min_prob=cfg.quote_min_prob,
        diversity=cfg.quote_diversity,
        personal_data_column=cfg.personal_data_column,
        redaction_allow=tuple(redaction_allow),
        redaction_patterns=tuple((redaction_patterns or {}).items()),
    )
    names = dict(zip(themes["theme_id"], themes["theme"], strict=True))
    stance_names = {f"{t.id}:{st.id}": st.name for t in codebook.themes for st in t.stances}
    quotes = choose_quotes(
        frame, order, names, embeddings, rules or QuoteRules(), qcfg, stance_names
    )
    tick("quotes")
    banned = (rules or QuoteRules()).ban
    from pipeline.privacy import redact_many, without_personal_data

    # once for every comment: the workbook shows them, and point labels are named without them
    texts = frame["text"].tolist()
    redactions = redact_many(texts, redaction_allow, patterns=redaction_patterns)
    safe = without_personal_data(texts, redactions)
    points = key_points(frame, order, embeddings, qcfg, safe, banned=banned, seed=seed)
    others = emerging(
        frame, codebook.ids, embeddings, qcfg, safe, banned=banned, seed=seed, n_quotes=cfg.n_quotes
    )
    return ReportData(
        title=title or codebook.name or "Consultation report",
        question=question if question is not None else codebook.question,
        generated=date.today().isoformat(),
        summary=summary,
        themes=themes,
        breakdowns=breakdowns,
        stances=stance_tables(
            frame,
            codebook,
            weights=weights,
            group_by=present,
            min_base=cfg.min_base,
            alpha=cfg.alpha,
            level=cfg.level,
        ),
        quotes=quotes,
        responses=responses or {},
        notes=_notes(frame, summary, metrics, cfg, weight_notes, skipped)
        + [_labels_note(labelled), KEY_POINTS_NOTE],
        min_base=cfg.min_base,
        level=cfg.level,
        weighting=weight_notes[0] if weight_notes else "",
        comments=_comments_frame(frame, order, names, present, [r.text for r in redactions]),
        key_points=points,
        emerging=others,
        summaries=summaries or {},
        drafts=drafts(points, names),
    )


def write_outputs(
    data: ReportData,
    out_dir: str | Path,
    n_quotes: int = 3,
    *,
    model_version: str | None = None,
    sources: Sequence[Path] = (),
) -> dict[str, Path]:
    """Each file written beside its target and renamed into place: never half a report.

    `manifest.json`, written before and after the four files, marks them as one set (a kill
    between two renames leaves it "incomplete"); `sources` (the coded table) are hashed into it.
    """
    from pipeline.manifest import REPORT_MANIFEST, file_set
    from pipeline.report.docx import render_markdown, write_docx
    from pipeline.report.html import render_html
    from pipeline.report.xlsx import write_xlsx
    from pipeline.tables import write_atomic

    out_dir = Path(out_dir)
    paths = {k: out_dir / v for k, v in OUTPUTS.items()}
    html = render_html(data)
    markdown = render_markdown(data, n_quotes)
    with file_set(
        out_dir / REPORT_MANIFEST,
        "report",
        list(paths.values()),
        model_version=model_version,
        sources=sources,
    ):
        write_atomic(paths["xlsx"], lambda p: write_xlsx(data, p))
        write_atomic(paths["html"], lambda p: p.write_text(html, encoding="utf-8"))
        write_atomic(paths["docx"], lambda p: write_docx(data, p, n_quotes))
        write_atomic(paths["md"], lambda p: p.write_text(markdown, encoding="utf-8"))
        body = json.dumps(emerging_json(data.emerging), indent=2)
        write_atomic(paths["emerging"], lambda p: p.write_text(body, encoding="utf-8"))
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
    summaries: str | Path | None = None,
    quotes: str | Path | None = None,
    cfg: ReportSettings | None = None,
    seed: int = 42,
    progress: bool = True,
    title: str | None = None,
    question: str | None = None,
    group_by: list[str] | None = None,
    display_names: dict[str, dict[str, str]] | None = None,
    redaction_allow: Sequence[str] = (),
    redaction_patterns: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Read the inputs, assemble the report, write the four files; returns their paths.

    `display_names` (column -> code -> name) replace coded values before anything is shown;
    `redaction_allow` lists names that quotes may show (public figures).
    """
    from tqdm import tqdm

    with tqdm(total=5, desc="report", unit="step", disable=not progress) as bar:

        def done(part: str) -> None:
            bar.set_postfix_str(part)
            bar.update()

        book = load_codebook(codebook)
        frame = read_coded(coded, book)
        for col, names in (display_names or {}).items():
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v, n=names: n.get(str(v), v))
        inputs = {
            "labelled": read_hand_labels(labelled, book),
            "metrics": read_metrics(metrics),
            "embeddings": load_embeddings(embeddings, frame["id"].tolist()),
            "rules": read_quote_rules(quotes, book),
            "responses": read_responses(responses, book),
            "summaries": read_summaries(summaries, book),
        }
        done("read")
        data = assemble(
            frame,
            book,
            **inputs,
            cfg=cfg,
            seed=seed,
            progress=done,
            title=title,
            question=question,
            group_by=group_by,
            redaction_allow=redaction_allow,
            redaction_patterns=redaction_patterns,
        )
        versions = (
            sorted(set(frame["model_version"].astype(str))) if "model_version" in frame else []
        )
        written = write_outputs(
            data,
            out_dir,
            (cfg or ReportSettings()).n_quotes,
            model_version=", ".join(versions) or None,
            sources=[Path(coded)],
        )
        done("written")
    return written
