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
the C predictions ~ Binomial(C, p), then the true positives the model missed ~ NegBinomial(found,
r). Its percentiles, plus the certain hand-labelled count, give the interval. (Dividing the found
by r gave only the misses' mean: on NHS that interval covered 0.81 of the true counts at 90%.)
Where cross-validation gives no usable figures (no metrics for the theme, or the classifier found
none of its examples), the calibrated probabilities are used: the estimate is their sum, the
interval comes from drawing each code as Bernoulli(probability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

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


def missed_positives(rng: np.random.Generator, found: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Per draw, how many true positives the model missed when it found `found` at this recall.

    Each true positive is found with probability `recall`, so the misses before the found ones
    are negative-binomial. Dividing by the recall instead would give only their mean, and the
    interval would leave out that chance.
    """
    found = np.asarray(found)
    missed = rng.negative_binomial(np.maximum(found, 1), recall)
    return np.where(found > 0, missed, 0)


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
            found = rng.binomial(n_model, p)
            draws = found + missed_positives(rng, found, r)
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


def _wilson(k: float, n: float, level: float) -> tuple[float, float]:
    """Wilson score interval for a share k/n (stays inside 0-1 for small bases)."""
    if n <= 0:
        return np.nan, np.nan
    z = stats.norm.ppf((1 + level) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _stance_ids(values: pd.Series, theme_id: str) -> pd.Series:
    """Each comment's stance id within the theme ("" when none), from |-joined theme:stance."""
    prefix = theme_id + ":"
    return (
        values.fillna("")
        .astype(str)
        .map(
            lambda v: next((s[len(prefix) :] for s in split_labels(v) if s.startswith(prefix)), "")
        )
    )


def _stance_split(
    stance: pd.Series,
    groups: pd.Series,
    weights: np.ndarray,
    stance_ids: list[str],
    min_base: int,
    alpha: float,
) -> pd.DataFrame:
    """Per group: base, weighted share of each stance, and a flag where a z-test (group vs the
    other eligible groups, Kish effective bases, Bonferroni over stances x groups) says so."""
    from pipeline.report.weights import kish_n

    rows = []
    eligible = [g for g in pd.unique(groups) if (groups == g).sum() >= min_base]
    n_tests = max(1, len(eligible) * len(stance_ids))
    for g in pd.unique(groups):
        mask = (groups == g).to_numpy()
        w = weights[mask]
        row: dict[str, object] = {"group": g, "base": int(mask.sum())}
        for sid in stance_ids:
            y = (stance[mask] == sid).to_numpy(float)
            share = float(w @ y / w.sum()) if w.sum() > 0 else np.nan
            flag = "low base" if mask.sum() < min_base else ""
            if g in eligible and len(eligible) >= 2:
                rest = groups.isin([h for h in eligible if h != g]).to_numpy()
                w2, y2 = weights[rest], (stance[rest] == sid).to_numpy(float)
                p2, n1, n2 = float(w2 @ y2 / w2.sum()), kish_n(w), kish_n(w2)
                pooled = (share * n1 + p2 * n2) / (n1 + n2)
                se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
                if se > 0:
                    z = (share - p2) / se
                    if min(1.0, 2 * stats.norm.sf(abs(z)) * n_tests) < alpha:
                        flag = "higher" if z > 0 else "lower"
            row[f"share:{sid}"], row[f"flag:{sid}"] = share, flag
        rows.append(row)
    return pd.DataFrame(rows)


def stance_tables(
    frame: pd.DataFrame,
    codebook: Codebook,
    weights: np.ndarray | None = None,
    group_by: list[str] | None = None,
    min_base: int = 30,
    alpha: float = 0.05,
    level: float = 0.95,
) -> list[dict]:
    """Per theme with stances: counts per stance with intervals, where stance came from, and the
    split by each grouping column (weighted shares, bases, significance)."""
    out = []
    subm = frame["substantive"].to_numpy(bool)
    sub = frame[subm]
    w_all = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    for theme in codebook.themes:
        if not theme.stances:
            continue
        in_mask = (sub[code_col(theme.id)] == 1).to_numpy()
        in_theme = sub[in_mask]
        stance = _stance_ids(in_theme["stance"], theme.id)
        has_model_stance = f"stance_{theme.id}" in frame.columns
        with_stance = int((stance != "").sum())
        rows = []
        for st in theme.stances:
            n = int((stance == st.id).sum())
            low, high = _wilson(n, with_stance, level)
            rows.append(
                {
                    "stance_id": st.id,
                    "stance": st.name,
                    "count": n,
                    "low": low * with_stance,
                    "high": high * with_stance,
                }
            )
        table = pd.DataFrame(rows)
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
        known = (stance != "").to_numpy()
        w_theme = w_all[subm][in_mask][known]
        splits = [
            {
                "column": col,
                "table": _stance_split(
                    stance[known],
                    in_theme.loc[known, col].fillna("Not stated").astype(str),
                    w_theme,
                    [s.id for s in theme.stances],
                    min_base,
                    alpha,
                ),
            }
            for col in group_by or []
            if col in in_theme.columns
        ]
        out.append(
            {
                "theme_id": theme.id,
                "theme": theme.name,
                "table": table,
                "in_theme": len(in_theme),
                "with_stance": with_stance,
                "without_stance": len(in_theme) - with_stance,
                "source": source,
                "low_base": with_stance < min_base,
                "splits": splits,
            }
        )
    return out


def audited(
    table: pd.DataFrame,
    frame: pd.DataFrame,
    model_codes: pd.DataFrame,
    level: float,
) -> pd.DataFrame:
    """The theme table with each count's estimate, interval and reliability from the audit.

    With a blind random audit sample among the hand labels, every theme's estimate and interval
    are prediction-powered (pipeline.report.estimate): all comments' calibrated probabilities,
    corrected by the audit's residuals, hand labels known. Precision and recall come from the
    audit. Without one, the cross-validated estimate above stays, marked model-based. Either way
    a theme too weak to quote is marked `indicative_only`, with the reason.
    """
    from pipeline.report.estimate import MODEL_BASED, indicative_only, theme_estimates

    sub = frame["substantive"].to_numpy(bool)
    audit = frame["hand_sample"].eq("audit").to_numpy() & sub
    out = table.set_index("theme_id")
    out["validated"] = False
    out["n_audit"] = int(audit.sum())
    out["indicative_only"] = False
    out["reliability_note"] = ""
    ids = out.index.tolist()
    if audit.sum() >= 2:
        hand = frame["hand_labelled"].to_numpy(bool)
        labels = np.array(frame[[code_col(t) for t in ids]], dtype=float)  # a copy: written below
        labels[~hand] = np.nan
        probs = frame[[prob_col(t) for t in ids]].fillna(0).to_numpy(dtype=float)
        est = theme_estimates(
            probs[sub],
            model_codes[[code_col(t) for t in ids]].to_numpy(dtype=float)[sub],
            labels[sub],
            audit[sub],
            ids,
            level=level,
        ).set_index("theme_id")
        out["corrected"], out["low"], out["high"] = est["estimate"], est["low"], est["high"]
        out["precision"], out["recall"] = est["precision"], est["recall"]
        out["method"] = est["method"]
        out["validated"] = est["validated"]
        out["indicative_only"] = est["indicative_only"]
        out["reliability_note"] = est["reason"]
        out["audit_positives"] = est["audit_positives"]
    else:
        out["method"] = out["method"] + f"; {MODEL_BASED}"
        for tid, row in out.iterrows():
            p, r = row["precision"], row["recall"]
            f1 = 2 * p * r / (p + r) if np.isfinite([p, r]).all() and p + r > 0 else np.nan
            weak, reason = indicative_only(
                row["corrected"], row["low"], row["high"], f1, 0, min_positives=0
            )
            if np.isnan(f1):
                weak, reason = True, "; ".join(filter(None, [reason, "no usable precision/recall"]))
            out.loc[tid, ["indicative_only", "reliability_note"]] = [weak, reason]
    n_sub = int(sub.sum())
    for col in ("corrected", "low", "high"):
        out[f"{col}_share"] = out[col] / n_sub if n_sub else np.nan
    return out.reset_index()
