"""Theme counts with the uncertainty that comes from the classifier, and stance splits.

For each theme the count has two parts:
- hand-labelled comments: certain, counted as labelled;
- model-coded comments: C predicted positive. Cross-validation on the hand labels says how
  often a positive prediction is right (precision p = TP/(TP+FP)) and how many true positives
  the model finds (recall r = TP/(TP+FN)). The corrected estimate of the true count among the
  model-coded comments is C * p / r: drop the expected false positives, add back the missed.

Rates measured on a handful of labels are noisy (7 labelled drugs comments give a recall of
2/7 or 4/7 by luck), and dividing by a noisy recall explodes. So each theme's rates are shrunk
towards the classifier's pooled rates over all themes, as if `prior_strength` extra labelled
examples behaved like the average theme (partial pooling; 0 turns it off):
p ~ Beta(TP + k*p0, FP + k*(1-p0)), r ~ Beta(TP + k*r0, FN + k*(1-r0)). The point estimate uses
their means; the interval is a parametric bootstrap: draw p and r, draw the true positives among
the C predictions ~ Binomial(C, p), divide by r. Its percentiles, plus the certain hand-labelled
count, give the interval. Where cross-validation gives no usable figures (no metrics for the
theme, or the classifier found none of its examples), the calibrated probabilities are used:
the estimate is their sum, the interval comes from drawing each code as Bernoulli(probability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.columns import code_col, prob_col
from pipeline.labelled import split_labels


def theme_order(codebook: Codebook, counts: dict[str, int]) -> list[str]:
    """Top-level themes by size (ties in codebook order), each followed by its sub-themes."""
    pos = {t: i for i, t in enumerate(codebook.ids)}

    def children(parent: str | None) -> list[str]:
        kids = [t.id for t in codebook.themes if t.group == parent]
        return sorted(kids, key=lambda t: (-counts.get(t, 0), pos[t]))

    out: list[str] = []

    def walk(parent: str | None) -> None:
        for tid in children(parent):
            out.append(tid)
            walk(tid)

    walk(None)
    return out


def _depth(codebook: Codebook, tid: str) -> int:
    depth, parent = 0, codebook.by_id[tid].group
    while parent:
        depth, parent = depth + 1, codebook.by_id[parent].group
    return depth


def _cv_counts(m: dict) -> tuple[float, float, float] | None:
    """(TP, FP, FN) reconstructed from precision, recall, support and predicted."""
    try:
        predicted, support = float(m["predicted"]), float(m["support"])
        precision, recall = float(m["precision"]), float(m["recall"])
    except (KeyError, TypeError, ValueError):
        return None
    if predicted <= 0 or support <= 0 or not np.isfinite([precision, recall]).all():
        return None
    tp = recall * support
    if tp <= 0:
        return None
    return tp, max(predicted - tp, 0.0), max(support - tp, 0.0)


def pooled_rates(per_theme: dict) -> tuple[float, float]:
    """Precision and recall over all themes together: what an average theme looks like."""
    counts = [c for c in (_cv_counts(m or {}) for m in per_theme.values()) if c is not None]
    tp = sum(c[0] for c in counts)
    fp = sum(c[1] for c in counts)
    fn = sum(c[2] for c in counts)
    if tp <= 0:
        return 0.5, 0.5
    return tp / (tp + fp), tp / (tp + fn)


def bernoulli_sums(
    rng: np.random.Generator, probs: np.ndarray, n_boot: int, max_cells: int = 1 << 23
) -> np.ndarray:
    """Per bootstrap draw, how many comments come up coded when each is Bernoulli(probability).

    The same numbers as `(rng.random((n_boot, n)) < probs).sum(axis=1)` (the generator's stream
    is consumed in the same order), drawn a block of rows at a time: at 100,000 comments the
    whole matrix would be 1.6 GB per theme.
    """
    rows = max(1, max_cells // max(probs.size, 1))
    out = np.empty(n_boot, dtype=np.int64)
    for start in range(0, n_boot, rows):
        block = rng.random((min(rows, n_boot - start), probs.size))
        out[start : start + len(block)] = (block < probs).sum(axis=1)
    return out


def theme_counts(
    frame: pd.DataFrame,
    codebook: Codebook,
    metrics: dict | None,
    n_boot: int = 2000,
    seed: int = 42,
    level: float = 0.95,
    prior_strength: float = 10.0,
) -> pd.DataFrame:
    """One row per theme (report order): counts, share, corrected estimate and interval."""
    sub = frame[frame["substantive"]]
    n_sub = len(sub)
    hand = sub["hand_labelled"].to_numpy()
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    per_theme = (metrics or {}).get("per_theme", {})
    p0, r0 = pooled_rates(per_theme)
    k = max(float(prior_strength), 0.0)
    rows = []
    for tid in codebook.ids:
        codes = sub[code_col(tid)].to_numpy()
        n_hand = int(codes[hand].sum())
        n_model = int(codes[~hand].sum())
        m = per_theme.get(tid) or {}
        cv = _cv_counts(m)
        if cv is not None:
            tp, fp, fn = cv
            a_p, b_p = tp + k * p0 + 0.5, fp + k * (1 - p0) + 0.5
            a_r, b_r = tp + k * r0 + 0.5, fn + k * (1 - r0) + 0.5
            precision, recall = a_p / (a_p + b_p), a_r / (a_r + b_r)
            point = n_model * precision / recall
            p = rng.beta(a_p, b_p, n_boot)
            r = rng.beta(a_r, b_r, n_boot)
            draws = rng.binomial(n_model, p) / r
            method = "cross-validated precision/recall"
        else:
            precision = recall = np.nan
            col = prob_col(tid)
            probs = (
                sub.loc[~hand, col].fillna(0).to_numpy(dtype=float)
                if col in sub.columns
                else codes[~hand].astype(float)
            )
            point = float(probs.sum())
            draws = bernoulli_sums(rng, probs, n_boot) if probs.size else np.zeros(n_boot)
            method = (
                "calibrated probabilities (no usable cross-validation figures)"
                if col in sub.columns
                else "none (model codes taken as certain)"
            )
        low, high = np.percentile(draws, [lo_q, hi_q]) if n_model or cv is None else (0.0, 0.0)
        count = n_hand + n_model
        theme = codebook.by_id[tid]
        rows.append(
            {
                "theme_id": tid,
                "theme": theme.name,
                "parent_id": theme.group or "",
                "depth": _depth(codebook, tid),
                "count": count,
                "share": count / n_sub if n_sub else np.nan,
                "hand_labelled": n_hand,
                "model_coded": n_model,
                "corrected": n_hand + point,
                "low": n_hand + float(low),
                "high": n_hand + float(high),
                "precision": float(m["precision"]) if cv is not None else np.nan,  # as measured
                "recall": float(m["recall"]) if cv is not None else np.nan,
                "precision_used": precision,  # after pooling: what the correction uses
                "recall_used": recall,
                "method": method,
            }
        )
    table = pd.DataFrame(rows).set_index("theme_id")
    order = theme_order(codebook, table["count"].to_dict())
    table = table.loc[order].reset_index()
    for col in ("corrected", "low", "high"):
        table[f"{col}_share"] = table[col] / n_sub if n_sub else np.nan
    return table


def summary_counts(frame: pd.DataFrame, codebook: Codebook) -> dict:
    """Headline numbers: how many comments, how many set aside and why, how many hand-labelled."""
    sub = frame["substantive"]
    codes = frame.loc[sub, [code_col(t) for t in codebook.ids]].to_numpy()
    reasons = (
        frame.loc[~sub, "non_substantive_reason"]
        .fillna("")
        .replace("", "unspecified")
        .value_counts()
        if "non_substantive_reason" in frame.columns
        else pd.Series(dtype=int)
    )
    versions = (
        sorted(frame["model_version"].dropna().astype(str).unique())
        if "model_version" in frame.columns
        else []
    )
    return {
        "comments": len(frame),
        "substantive": int(sub.sum()),
        "non_substantive": int((~sub).sum()),
        "non_substantive_reasons": {str(k): int(v) for k, v in reasons.items()},
        "no_theme": int((codes.sum(axis=1) == 0).sum()) if codes.size else int(sub.sum()),
        "hand_labelled": int(frame.loc[sub, "hand_labelled"].sum()),
        "needs_review": int(
            frame.loc[sub & ~frame["hand_labelled"], "needs_review"].fillna(0).astype(int).sum()
        )
        if "needs_review" in frame.columns
        else 0,
        "model_version": ", ".join(versions) or "unknown",
        "mean_themes": _mean_top_level(frame.loc[sub], codebook),
    }


def _mean_top_level(sub: pd.DataFrame, codebook: Codebook) -> float:
    """Average number of top-level themes per comment that has any (sub-themes count once)."""
    top = [code_col(t.id) for t in codebook.themes if not t.group]
    n = sub[top].sum(axis=1) if len(sub) else pd.Series(dtype=float)
    return float(n[n > 0].mean()) if (n > 0).any() else 0.0


def stance_tables(frame: pd.DataFrame, codebook: Codebook) -> list[dict]:
    """Per theme with stances: counts per stance among its comments, and where stance came from."""
    out = []
    sub = frame[frame["substantive"]]
    for theme in codebook.themes:
        if not theme.stances:
            continue
        in_theme = sub[sub[code_col(theme.id)] == 1]
        # parse each distinct stance value once (a few kinds), then count rows by value
        per_value = in_theme["stance"].fillna("").astype(str).value_counts()
        found = {
            v: [s.split(":", 1)[1] for s in split_labels(v) if s.startswith(theme.id + ":")]
            for v in per_value.index
        }
        has_model_stance = f"stance_{theme.id}" in frame.columns
        rows = []
        for stance in theme.stances:
            n = int(sum(c for v, c in per_value.items() if stance.id in found[v]))
            rows.append({"stance_id": stance.id, "stance": stance.name, "count": n})
        table = pd.DataFrame(rows)
        with_stance = int(sum(c for v, c in per_value.items() if found[v]))
        table["share"] = table["count"] / with_stance if with_stance else np.nan
        n_hand = int(in_theme["hand_labelled"].sum())
        if has_model_stance:
            source = "hand labels, and the classifier's stance for model-coded comments"
        else:
            source = (
                f"hand labels only: the classifier does not code stance, so stance is known for "
                f"the {n_hand} hand-labelled comments in this theme, not for the "
                f"{len(in_theme) - n_hand} model-coded ones"
            )
        out.append(
            {
                "theme_id": theme.id,
                "theme": theme.name,
                "table": table,
                "in_theme": len(in_theme),
                "with_stance": with_stance,
                "without_stance": len(in_theme) - with_stance,
                "source": source,
            }
        )
    return out
