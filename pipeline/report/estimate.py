"""How many comments are in a theme: the model's probabilities corrected by a random audit sample.

Why: labels the model chose to ask for are not a random sample, so they cannot say how wrong the
model is elsewhere. A blind simple random sample can, and a difference (prediction-powered)
estimator turns it into an unbiased total with an interval that carries the model's error
(Angelopoulos et al., Science 2023; with power tuning, Angelopoulos, Duchi & Zrnic 2023, PPI++;
in survey terms a model-assisted difference / regression estimator, Sarndal et al. 1992).

The sampling design these formulas assume (all counts are over substantive comments):

- U: the N comments. K: comments hand-labelled through the TRAIN stream (chosen by the model,
  not at random); their labels count as known and carry no error, but they are never used to
  judge the model.
- R = U \\ K: the N_u = N - |K| comments not labelled through the train stream.
- A in R: the AUDIT sample, a simple random sample without replacement of n comments drawn from
  R and labelled blind. Its labels are known too, and they are the only ones that measure error.
- The model (its probability f_i for every comment) must not have been fitted on A's labels:
  residuals on comments it was trained on are optimistic and the interval would be too narrow.

For one theme, each comment has a multiplier a_i = w_i * 1[i in group g] (w_i a survey weight,
1 without weights; the group indicator is 1 for a whole-population count), true label y_i and
probability f_i. The target is T = sum_U a_i y_i and the estimate

    T_hat = sum_K a y + lam * sum_R a f + (N_u / n) * sum_A a (y - lam f)

which is unbiased over the draw of A for any fixed lam (E[(N_u/n) sum_A e] = sum_R e). The same
number reads sum_{K u A} a y + lam sum_{R \\ A} a f + ((N_u - n)/n) sum_A a (y - lam f): the audit
comments enter as known, and their residuals stand for the N_u - n comments nobody labelled.
Its variance under simple random sampling without replacement, with the finite-population
correction (FPC), is estimated by

    V_hat = N_u^2 * (1 - n/N_u) * s_e^2 / n,    e_i = a_i (y_i - lam f_i), i in A (ddof = 1),

so the interval closes on the exact total when the audit covers all of R (n = N_u). For a group
the residual of a comment outside the group is 0 (a domain estimate: the group's audit size is
random and the formula accounts for it). lam = 1 is plain PPI (the difference estimator);
`lam=None` tunes it on the audit (the regression slope Cov(a y, a f) / Var(a f), clipped to
[0, 1] as ppi-python does): with all of f known, the model part has no sampling variance, so this
is the variance-minimising slope. Tuning pays when the probabilities are weakly informative but
is fragile for rare themes (an audit without a positive gives lam = 0: the estimate drops to
the audit's own zero and only the variance floor below keeps the interval open), so it is off
by default.

Interval: T_hat -/+ c * sqrt(V_hat) with c a Student-t quantile on n - 1 degrees of freedom
(a normal quantile with `interval="z"`), and s_e^2 floored at mean_R a^2 q (1 - q), the noise
that remains even if the probabilities were right (`floor="recalibrated"`). Why: an audit of a
hundred comments often holds no missed example of a rare theme, and then its residuals look
better than any model could be. q are the probabilities shifted on the logit scale until they
average the audit-corrected rate (n r + z^2/2) / (n + z^2), r = (sum_R f + (N_u/n) sum_A (y - f))
/ N_u, with Agresti-Coull pseudo-counts so an audit without a positive still leaves room for
some; `floor="model"` uses f itself, `floor="none"` the plain s_e^2. On NHS the floor lifts
coverage at an audit of 100 from about 0.85 to 0.90 and costs a few per cent of width at 400
(docs/benchmarks.md). Estimate and interval are clipped to what is possible: no less than the
labelled positives, no more than that plus every unlabelled comment (clipping the estimate can
only bring it closer to the truth; it costs exact unbiasedness only where it binds).

Without an audit sample (n < 2) the estimate is model-based: T_hat = (sum of a y over every
hand-labelled comment) + (sum of a f over the others), with a Poisson-binomial variance
sum a^2 f (1 - f) over the others, which is right only if the probabilities are
calibrated and errors independent: it is flagged `validated=False` and says so in `method`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

MODEL_BASED = "model-based: sum of probabilities, not validated by a random sample"
AUDITED = "prediction-powered: probabilities corrected by the random audit sample"


@dataclass(frozen=True)
class TotalEstimate:
    """One estimated total and its interval; `validated` is False when no audit backs it."""

    estimate: float
    low: float
    high: float
    se: float
    n_audit: int  # audit comments used (for a group: all audit comments, in or out of it)
    n_audit_in_group: int  # audit comments that fall in the group (= n_audit without a group)
    known: float  # weighted positives among hand-labelled comments (train stream and audit)
    lam: float
    validated: bool
    method: str


@dataclass(frozen=True)
class Reliability:
    """Precision and recall of the model's codes on the audit sample, with their bases."""

    precision: float
    recall: float
    f1: float
    audit_positives: int  # audit comments truly in the theme: recall's base
    audit_predicted: int  # audit comments the model coded into it: precision's base
    n_audit: int


def _as_float(x: np.ndarray | pd.Series | list, name: str, n: int | None = None) -> np.ndarray:
    out = np.asarray(x, dtype=float).reshape(-1)
    if n is not None and out.size != n:
        raise ValueError(f"{name} has {out.size} values, expected {n}")
    return out


def _quantile(level: float, dof: int, interval: str) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if interval == "z":
        return float(stats.norm.ppf((1 + level) / 2))
    if interval == "t":
        return float(stats.t.ppf((1 + level) / 2, max(dof, 1)))
    raise ValueError(f"interval must be 't' or 'z', got {interval!r}")


def tuned_lambda(e_y: np.ndarray, e_f: np.ndarray) -> float:
    """PPI++ power tuning: the slope of a*y on a*f in the audit, clipped to [0, 1].

    With the model's prediction known for every comment, the variance of the estimate is that of
    a y - lam a f over the audit, minimised by this slope; clipping keeps it between the classical
    (lam = 0: ignore the model) and plain PPI (lam = 1) estimates.
    """
    if e_y.size < 2:
        return 1.0
    var_f = float(np.var(e_f, ddof=1))
    if not np.isfinite(var_f) or var_f <= 0:
        return 1.0
    cov = float(np.cov(e_y, e_f, ddof=1)[0, 1])
    return float(np.clip(cov / var_f, 0.0, 1.0))


def recalibrate(prob: np.ndarray, mean: float) -> np.ndarray:
    """Probabilities shifted on the logit scale so that they average `mean`.

    Calibration-in-the-large: keeps the model's ranking and spread, corrects its overall level
    to what the audit says, so the variance they imply is plausible for this theme.
    """
    if prob.size == 0:
        return prob
    mean = float(np.clip(mean, 1e-9, 1 - 1e-9))
    logit = np.log(np.clip(prob, 1e-9, 1 - 1e-9)) - np.log1p(-np.clip(prob, 1e-9, 1 - 1e-9))

    def gap(shift: float) -> float:
        return float(np.mean(special.expit(logit + shift))) - mean

    lo, hi = -40.0, 40.0
    if gap(lo) >= 0 or gap(hi) <= 0:
        return np.full_like(prob, mean, dtype=float)
    return special.expit(logit + optimize.brentq(gap, lo, hi, xtol=1e-6))


def _bounded(
    point: float, se: float, q: float, bounds: tuple[float, float], **fields
) -> TotalEstimate:
    """Estimate and interval point -/+ q se, each clipped to what the total could possibly be."""
    lo, hi = bounds
    return TotalEstimate(
        estimate=float(np.clip(point, lo, hi)),
        low=float(np.clip(point - q * se, lo, hi)),
        high=float(np.clip(point + q * se, lo, hi)),
        se=se,
        **fields,
    )


def estimate_total(
    prob: np.ndarray | pd.Series,
    label: np.ndarray | pd.Series,
    audit: np.ndarray | pd.Series,
    *,
    weight: np.ndarray | pd.Series | None = None,
    group: np.ndarray | pd.Series | None = None,
    level: float = 0.90,
    lam: float | None = 1.0,
    interval: str = "t",
    floor: str = "recalibrated",
) -> TotalEstimate:
    """Estimated total of `label` over all comments (optionally weighted, within a group).

    prob: the model's calibrated probability per comment (N,). label: the hand label 0/1 where a
    comment is hand-labelled, NaN elsewhere. audit: True for the audit sample (a simple random
    sample of the comments not labelled through the train stream; each must carry a label).
    Labelled comments outside the audit are the train stream: known, never used to judge error.
    """
    f = _as_float(prob, "prob")
    size = f.size
    y = _as_float(label, "label", size)
    in_audit = np.asarray(audit, dtype=bool).reshape(-1)
    if in_audit.size != size:
        raise ValueError(f"audit has {in_audit.size} values, expected {size}")
    if np.isnan(y[in_audit]).any():
        raise ValueError("every audit comment needs its hand label")
    if not np.isfinite(f[np.isnan(y) | in_audit]).all():
        raise ValueError("prob is missing for a comment outside the train stream")
    w = np.ones(size) if weight is None else _as_float(weight, "weight", size)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and non-negative")
    g = np.ones(size, dtype=bool) if group is None else np.asarray(group, dtype=bool).reshape(-1)
    if g.size != size:
        raise ValueError(f"group has {g.size} values, expected {size}")
    a = w * g
    labelled = ~np.isnan(y)
    train = labelled & ~in_audit  # K
    rest = ~train  # R = U \ K
    n_rest = int(rest.sum())
    n = int(in_audit.sum())
    known = float(np.sum(a[labelled] * y[labelled]))
    # what the total could possibly be: the known positives, plus at most every unlabelled comment
    floor_total, ceil_total = known, known + float(a[~labelled].sum())
    f0 = np.nan_to_num(f)

    if n < 2:
        # every hand label is known; the rest count by their probabilities
        fu, au = f0[~labelled], a[~labelled]
        point = known + float(np.sum(au * fu))
        var = float(np.sum(au**2 * fu * (1 - fu)))
        se = float(np.sqrt(var))
        q = _quantile(level, 0, "z")
        return _bounded(
            point,
            se,
            q,
            (floor_total, ceil_total),
            n_audit=n,
            n_audit_in_group=int(g[in_audit].sum()),
            known=known,
            lam=1.0,
            validated=False,
            method=MODEL_BASED,
        )

    ay, af = a[in_audit] * y[in_audit], a[in_audit] * f0[in_audit]
    lam_used = tuned_lambda(ay, af) if lam is None else float(lam)
    e = ay - lam_used * af
    point = float(
        np.sum(a[train] * y[train]) + lam_used * np.sum(a[rest] * f0[rest]) + n_rest / n * e.sum()
    )
    s2 = float(np.var(e, ddof=1))
    if floor != "none":
        fr = f0[rest]
        if floor == "recalibrated":
            # the theme's rate among R by plain PPI (lam = 1, no weights, no group), then
            # Agresti-Coull pseudo-counts so that an audit with no positive still allows some
            z2 = _quantile(level, 0, "z") ** 2
            rate = (fr.sum() + n_rest / n * np.sum(y[in_audit] - f0[in_audit])) / n_rest
            rate = (n * float(np.clip(rate, 0, 1)) + z2 / 2) / (n + z2)
            q = recalibrate(fr, rate)
        elif floor == "model":
            q = fr
        else:
            raise ValueError(f"floor must be 'recalibrated', 'model' or 'none', got {floor!r}")
        ar = a[rest]
        s2 = max(s2, float(np.mean(ar**2 * q * (1 - q))))
    var = n_rest**2 * (1 - n / n_rest) * s2 / n
    se = float(np.sqrt(max(var, 0.0)))
    q = _quantile(level, n - 1, interval)
    return _bounded(
        point,
        se,
        q,
        (floor_total, ceil_total),
        n_audit=n,
        n_audit_in_group=int(g[in_audit].sum()),
        known=known,
        lam=lam_used,
        validated=True,
        method=AUDITED if lam is not None else AUDITED + " (power-tuned)",
    )


def reliability(
    code: np.ndarray | pd.Series, label: np.ndarray | pd.Series, audit: np.ndarray | pd.Series
) -> Reliability:
    """Precision, recall and F1 of the model's codes against blind labels, on the audit only.

    `code` must be the model's own 0/1 decision (not a hand label that replaced it). NaN where a
    rate has no base (no audit positives, or nothing coded).
    """
    in_audit = np.asarray(audit, dtype=bool).reshape(-1)
    c = _as_float(code, "code", in_audit.size)[in_audit] > 0.5
    y = _as_float(label, "label", in_audit.size)[in_audit]
    if np.isnan(y).any():
        raise ValueError("every audit comment needs its hand label")
    y = y > 0.5
    tp, predicted, positives = int((c & y).sum()), int(c.sum()), int(y.sum())
    precision = tp / predicted if predicted else np.nan
    recall = tp / positives if positives else np.nan
    if np.isnan(precision) or np.isnan(recall):
        f1 = np.nan
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Reliability(
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        audit_positives=positives,
        audit_predicted=predicted,
        n_audit=int(in_audit.sum()),
    )


def indicative_only(
    estimate: float,
    low: float,
    high: float,
    f1: float,
    audit_positives: int,
    *,
    validated: bool = True,
    min_f1: float = 0.5,
    max_relative_width: float = 1.0,
    min_positives: int = 10,
) -> tuple[bool, str]:
    """Whether a theme's figures are too weak to quote as more than indicative, and why.

    Defaults: F1 below 0.5 means the codes are wrong about as often as right, so example comments
    and group splits built on them mislead (human coders agree at about F1 0.75); an interval
    wider than the estimate means the count is not known to within a factor of about two; fewer
    than 10 audit positives leaves recall to a handful of comments (with 10, one comment moves
    it by 0.1 and its standard error is about 0.15), so the F1 above cannot be trusted either.
    """
    reasons = []
    if not validated:
        reasons.append("not validated by a random audit sample")
    if audit_positives < min_positives:
        reasons.append(f"only {audit_positives} audit comments in the theme (< {min_positives})")
    if np.isnan(f1):
        if audit_positives >= min_positives:
            reasons.append("F1 not measurable on the audit sample")
    elif f1 < min_f1:
        reasons.append(f"F1 {f1:.2f} on the audit sample (< {min_f1:g})")
    width = high - low
    if estimate <= 0 or width > max_relative_width * estimate:
        reasons.append(
            f"interval width {width:,.0f} exceeds {max_relative_width:g} x the estimate"
            f" {estimate:,.0f}"
        )
    return bool(reasons), "; ".join(reasons)


def _matrix(x: np.ndarray | pd.DataFrame, n_themes: int, name: str) -> np.ndarray:
    out = np.asarray(x, dtype=float)
    if out.ndim == 1:
        out = out[:, None]
    if out.shape[1] != n_themes:
        raise ValueError(f"{name} has {out.shape[1]} columns, expected {n_themes}")
    return out


def theme_estimates(
    probs: np.ndarray | pd.DataFrame,
    codes: np.ndarray | pd.DataFrame,
    labels: np.ndarray | pd.DataFrame,
    audit: np.ndarray | pd.Series,
    theme_ids: list[str],
    *,
    weight: np.ndarray | pd.Series | None = None,
    group: np.ndarray | pd.Series | None = None,
    level: float = 0.90,
    lam: float | None = 1.0,
    interval: str = "t",
    floor: str = "recalibrated",
    min_f1: float = 0.5,
    max_relative_width: float = 1.0,
    min_positives: int = 10,
) -> pd.DataFrame:
    """One row per theme (or per theme x group when `group` is given): estimate and reliability.

    probs, codes: (N, themes) the model's calibrated probabilities and its own 0/1 codes; labels:
    (N, themes) hand labels, NaN rows where not hand-labelled; audit: (N,) bool. `group` holds
    each comment's group value (NaN/None rows fall in no group). Reliability is the theme's, from
    the whole audit sample, repeated on each of its group rows.
    """
    k = len(theme_ids)
    P, C, Y = (
        _matrix(x, k, nm) for x, nm in ((probs, "probs"), (codes, "codes"), (labels, "labels"))
    )
    audit = np.asarray(audit, dtype=bool).reshape(-1)
    if group is None:
        splits: list[tuple[object, np.ndarray | None]] = [(None, None)]
    else:
        values = pd.Series(np.asarray(group, dtype=object).reshape(-1))
        splits = [(v, (values == v).to_numpy()) for v in pd.unique(values.dropna())]
    rows = []
    for j, tid in enumerate(theme_ids):
        rel = reliability(C[:, j], Y[:, j], audit)
        for value, mask in splits:
            est = estimate_total(
                P[:, j],
                Y[:, j],
                audit,
                weight=weight,
                group=mask,
                level=level,
                lam=lam,
                interval=interval,
                floor=floor,
            )
            weak, reason = indicative_only(
                est.estimate,
                est.low,
                est.high,
                rel.f1,
                rel.audit_positives,
                validated=est.validated,
                min_f1=min_f1,
                max_relative_width=max_relative_width,
                min_positives=min_positives,
            )
            row: dict[str, object] = {"theme_id": tid}
            if group is not None:
                row["group"] = value
            row.update(asdict(est))
            row.update({k2: v for k2, v in asdict(rel).items() if k2 != "n_audit"})
            row.update({"level": level, "indicative_only": weak, "reason": reason})
            rows.append(row)
    return pd.DataFrame(rows)
