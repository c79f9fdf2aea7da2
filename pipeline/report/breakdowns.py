"""Theme shares by group (route, age band, ...), weighted where weights exist, with tests.

A difference is flagged only when a test supports it: for each theme, each group with a base
of at least `min_base` comments is compared with the other such groups pooled (two-proportion
z-test on weighted shares, using Kish effective sample sizes so weighting does not overstate
certainty), Bonferroni-corrected over every theme x group test in the breakdown. Groups under
`min_base` are shown with their base but never compared or flagged. A chi-square test across
the eligible groups is also given per theme (Bonferroni over themes) as the overall check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.columns import code_col, prob_col
from pipeline.report.weights import kish_n

MISSING_GROUP = "Not stated"


@dataclass
class Breakdown:
    column: str
    label: str
    groups: list[str]
    base: pd.Series  # unweighted number of substantive comments per group
    weighted_base: pd.Series  # sum of effective weights per group
    effective_base: pd.Series  # Kish effective n per group
    weighted: pd.Series  # bool per group: any weight other than 1 applied
    share: pd.DataFrame  # themes x groups, weighted share 0-1
    count: pd.DataFrame  # themes x groups, unweighted number of comments
    flag: pd.DataFrame  # themes x groups: "higher", "lower", "" or "low base"
    p_value: (
        pd.DataFrame
    )  # themes x groups: Bonferroni-adjusted p of group vs rest (NaN if untested)
    p_across: pd.Series  # per theme: Bonferroni-adjusted chi-square p across eligible groups
    notes: list[str] = field(default_factory=list)
    # theme x group estimated (weighted) totals from every comment's probability, corrected by the
    # audit sample: theme_id, group, estimate, low, high, share, share_low, share_high, validated
    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)


def _label(column: str) -> str:
    """How the grouping reads after "By ": "by age band", "by inner / outer London"."""
    return {"inner_outer": "inner / outer London"}.get(column, column.replace("_", " "))


def _group_order(values: pd.Series) -> list[str]:
    """Natural order: age bands and numbers sort numerically, 'Not stated'/'Prefer not' last."""

    def key(v: str):
        low = v.lower()
        last = low.startswith(("prefer not", "not stated", "unknown", "other"))
        digits = "".join(c if c.isdigit() else " " for c in v).split()
        return (last, 0 if digits else 1, int(digits[0]) if digits else 0, low)

    return sorted(pd.unique(values), key=key)


def _group_estimates(
    data: pd.DataFrame,
    w: np.ndarray,
    theme_ids: list[str],
    groups: np.ndarray,
    weighted_base: dict[str, float],
    level: float,
) -> pd.DataFrame:
    """Each group's weighted total per theme, estimated like the headline counts (audit-corrected
    where an audit sample exists, else model-based), and as a share of the group's weighted base."""
    from pipeline.report.estimate import theme_estimates

    probs = [prob_col(t) for t in theme_ids]
    if not set(probs) <= set(data.columns) or "hand_labelled" not in data.columns:
        return pd.DataFrame()
    codes = data[[code_col(t) for t in theme_ids]].to_numpy(dtype=float)
    labels = np.where(data["hand_labelled"].to_numpy(bool)[:, None], codes, np.nan)
    audit = data.get("hand_sample", pd.Series("", index=data.index)).eq("audit").to_numpy()
    est = theme_estimates(
        data[probs].fillna(0).to_numpy(dtype=float),
        codes,
        labels,
        audit,
        theme_ids,
        weight=w,
        group=groups,
        level=level,
    )
    base = est["group"].map(weighted_base).astype(float)
    for col, source in (("share", "estimate"), ("share_low", "low"), ("share_high", "high")):
        est[col] = est[source] / base
    return est[
        [
            "theme_id",
            "group",
            "estimate",
            "low",
            "high",
            "share",
            "share_low",
            "share_high",
            "validated",
            "n_audit_in_group",
        ]
    ]


def breakdown(
    frame: pd.DataFrame,
    weights: np.ndarray,
    theme_ids: list[str],
    column: str,
    min_base: int = 30,
    alpha: float = 0.05,
    level: float = 0.95,
) -> Breakdown:
    """Shares of substantive comments in each theme for each value of `column`."""
    sub = frame["substantive"].to_numpy()
    data = frame.loc[sub]
    w = np.asarray(weights, dtype=float)[sub]
    groups_raw = data[column].astype(object).where(data[column].notna(), MISSING_GROUP)
    groups_raw = groups_raw.astype(str).str.strip().replace("", MISSING_GROUP).to_numpy()
    groups = _group_order(pd.Series(groups_raw))
    y = data[[code_col(t) for t in theme_ids]].to_numpy(dtype=float)

    base, wbase, ebase, weighted = {}, {}, {}, {}
    share = pd.DataFrame(index=theme_ids, columns=groups, dtype=float)
    count = pd.DataFrame(index=theme_ids, columns=groups, dtype=int)
    for g in groups:
        rows = groups_raw == g
        wg = w[rows]
        base[g], wbase[g], ebase[g] = int(rows.sum()), float(wg.sum()), kish_n(wg)
        weighted[g] = bool(np.any(np.abs(wg - 1) > 1e-9))
        share[g] = (wg @ y[rows]) / wg.sum() if wg.sum() > 0 else np.nan
        count[g] = y[rows].sum(axis=0).astype(int)

    eligible = [g for g in groups if base[g] >= min_base]
    flag = pd.DataFrame("", index=theme_ids, columns=groups)
    for g in groups:
        if base[g] < min_base:
            flag[g] = "low base"
    p_value = pd.DataFrame(np.nan, index=theme_ids, columns=groups)
    p_across = pd.Series(np.nan, index=theme_ids)
    if len(eligible) >= 2:
        n_tests = len(theme_ids) * len(eligible)
        # each group's "rest" (the other eligible groups) is the same for every theme
        rest_rows = {g: np.isin(groups_raw, [h for h in eligible if h != g]) for g in eligible}
        rest_w = {g: w[rest_rows[g]] for g in eligible}
        rest_n = {g: kish_n(rest_w[g]) for g in eligible}
        for j, tid in enumerate(theme_ids):
            table = []
            for g in eligible:
                x_eff = share.at[tid, g] * ebase[g]
                table.append([x_eff, ebase[g] - x_eff])
            table = np.array(table)
            if table[:, 0].sum() > 0 and table[:, 1].sum() > 0:
                chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
                p_across[tid] = min(1.0, p * len(theme_ids))
            for g in eligible:
                rows_rest, w_rest = rest_rows[g], rest_w[g]
                p2 = float(w_rest @ y[rows_rest, j] / w_rest.sum())
                n2 = rest_n[g]
                p1, n1 = float(share.at[tid, g]), ebase[g]
                pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
                se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
                if se <= 0:
                    continue
                z = (p1 - p2) / se
                p_adj = min(1.0, 2 * stats.norm.sf(abs(z)) * n_tests)
                p_value.at[tid, g] = p_adj
                if p_adj < alpha:
                    flag.at[tid, g] = "higher" if z > 0 else "lower"

    notes = []
    small = [g for g in groups if base[g] < min_base]
    if small:
        notes.append(
            f"Bases under {min_base} ({', '.join(small)}) are shown but not compared with "
            "other groups."
        )
    return Breakdown(
        estimates=_group_estimates(data, w, theme_ids, groups_raw, wbase, level),
        column=column,
        label=_label(column),
        groups=list(groups),
        base=pd.Series(base),
        weighted_base=pd.Series(wbase),
        effective_base=pd.Series(ebase),
        weighted=pd.Series(weighted),
        share=share,
        count=count,
        flag=flag,
        p_value=p_value,
        p_across=p_across,
        notes=notes,
    )
