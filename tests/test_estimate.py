"""The audit-corrected theme count: unbiased, honest intervals, and flags where it cannot be."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.report.estimate import (
    MODEL_BASED,
    estimate_total,
    indicative_only,
    recalibrate,
    reliability,
    theme_estimates,
    tuned_lambda,
)


def expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def population(seed: int, size: int = 2000, base: float = -2.0, bias: float = 1.0):
    """A fixed population: true labels from p = expit(x), a model that overstates: expit(x + bias)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(base, 1.5, size)
    y = (rng.random(size) < expit(x)).astype(float)
    return expit(x + bias), y


def train_stream(f: np.ndarray, k: int) -> np.ndarray:
    """Model-chosen labels: the k comments the model is least sure about (not a random sample)."""
    out = np.zeros(f.size, dtype=bool)
    out[np.argsort(np.abs(f - 0.5))[:k]] = True
    return out


def draw_audit(rng: np.random.Generator, eligible: np.ndarray, n: int) -> np.ndarray:
    audit = np.zeros(eligible.size, dtype=bool)
    audit[rng.choice(np.flatnonzero(eligible), n, replace=False)] = True
    return audit


def labels_for(y: np.ndarray, *masks: np.ndarray) -> np.ndarray:
    known = np.logical_or.reduce(masks)
    return np.where(known, y, np.nan)


def test_audit_corrects_a_biased_model_with_nominal_coverage():
    f, y = population(1)
    truth = y.sum()
    train = train_stream(f, 150)
    rng = np.random.default_rng(7)
    model_only = estimate_total(f, labels_for(y, train), np.zeros(f.size, bool), level=0.9)
    # the model overstates the theme: its own estimate is far off and its interval misses
    assert model_only.estimate > 1.3 * truth
    assert not model_only.validated and model_only.method == MODEL_BASED
    assert not model_only.low <= truth <= model_only.high

    estimates, covered = [], []
    for _ in range(600):
        audit = draw_audit(rng, ~train, 200)
        est = estimate_total(f, labels_for(y, train, audit), audit, level=0.9)
        assert est.validated and est.n_audit == 200
        estimates.append(est.estimate)
        covered.append(est.low <= truth <= est.high)
    estimates = np.asarray(estimates)
    coverage = float(np.mean(covered))
    assert 0.86 <= coverage <= 0.94, coverage
    # unbiased: the mean over draws sits on the truth (within 4 standard errors of that mean)
    assert abs(estimates.mean() - truth) < 4 * estimates.std() / np.sqrt(len(estimates))


def test_rare_theme_small_audit_keeps_coverage():
    """A few positives in 100 audit comments: the variance floor keeps the interval honest."""
    f, y = population(3, size=1500, base=-4.5, bias=-0.5)
    truth = y.sum()
    assert 30 <= truth <= 120
    rng = np.random.default_rng(11)
    covered = {"recalibrated": [], "none": []}
    for _ in range(500):
        audit = draw_audit(rng, np.ones(f.size, bool), 100)
        lab = labels_for(y, audit)
        for floor, hits in covered.items():
            est = estimate_total(f, lab, audit, level=0.9, floor=floor)
            hits.append(est.low <= truth <= est.high)
    with_floor, without = np.mean(covered["recalibrated"]), np.mean(covered["none"])
    assert with_floor >= 0.86, with_floor
    assert with_floor >= without


def test_hand_labelled_comments_add_no_variance():
    f, y = population(2, size=800)
    train = train_stream(f, 120)
    audit = draw_audit(np.random.default_rng(0), ~train, 100)
    full = estimate_total(f, labels_for(y, train, audit), audit)
    # the same audit on the comments outside the train stream alone
    rest = ~train
    alone = estimate_total(f[rest], labels_for(y, audit)[rest], audit[rest])
    assert full.se == pytest.approx(alone.se)
    assert full.estimate == pytest.approx(alone.estimate + y[train].sum())
    assert full.high - full.low == pytest.approx(alone.high - alone.low)
    # the train stream's probabilities play no part: they may even be missing
    f_missing = np.where(train, np.nan, f)
    again = estimate_total(f_missing, labels_for(y, train, audit), audit)
    assert again.estimate == pytest.approx(full.estimate) and again.se == pytest.approx(full.se)


def test_audit_of_every_unknown_comment_gives_the_exact_total():
    f, y = population(4, size=300)
    train = train_stream(f, 50)
    audit = ~train  # the audit covers every comment outside the train stream
    est = estimate_total(f, y, audit, level=0.9)
    assert est.se == 0
    assert est.estimate == pytest.approx(y.sum())
    assert est.low == pytest.approx(y.sum()) and est.high == pytest.approx(y.sum())


def test_finite_population_correction_shrinks_the_interval():
    f, y = population(5, size=1000)
    rng = np.random.default_rng(5)
    audit_small = draw_audit(rng, np.ones(f.size, bool), 100)
    # the same residuals with a tiny sampling fraction: only the FPC differs
    est = estimate_total(f, labels_for(y, audit_small), audit_small, floor="none")
    e = y[audit_small] - f[audit_small]
    expected = np.sqrt(1000**2 * (1 - 100 / 1000) * e.var(ddof=1) / 100)
    assert est.se == pytest.approx(expected)


def test_estimate_formula_and_audit_counted_as_known():
    f, y = population(6, size=500)
    train = train_stream(f, 40)
    audit = draw_audit(np.random.default_rng(1), ~train, 60)
    est = estimate_total(f, labels_for(y, train, audit), audit, floor="none")
    rest = ~train
    n_rest, n = rest.sum(), audit.sum()
    r = y[audit] - f[audit]
    by_definition = y[train].sum() + f[rest].sum() + n_rest / n * r.sum()
    # audit comments as known, their residuals standing in for the unlabelled ones
    as_known = y[train].sum() + y[audit].sum() + f[rest & ~audit].sum() + (n_rest - n) / n * r.sum()
    assert est.estimate == pytest.approx(by_definition)
    assert est.estimate == pytest.approx(as_known)
    assert est.known == pytest.approx(y[train].sum() + y[audit].sum())


def test_group_totals_add_up_and_are_unbiased():
    f, y = population(8, size=1500)
    rng = np.random.default_rng(3)
    group = rng.choice(["a", "b", "c"], f.size, p=[0.5, 0.3, 0.2])
    audit = draw_audit(rng, np.ones(f.size, bool), 300)
    lab = labels_for(y, audit)
    whole = estimate_total(f, lab, audit, floor="none")
    parts = [estimate_total(f, lab, audit, group=group == g, floor="none") for g in "abc"]
    assert sum(p.estimate for p in parts) == pytest.approx(whole.estimate)
    assert parts[1].n_audit == 300 and parts[1].n_audit_in_group == (audit & (group == "b")).sum()
    # over many audits the group's estimate centres on its true total, and its interval covers it
    truth = y[group == "c"].sum()
    est, hits = [], []
    for _ in range(400):
        audit = draw_audit(rng, np.ones(f.size, bool), 300)
        e = estimate_total(f, labels_for(y, audit), audit, group=group == "c", level=0.9)
        est.append(e.estimate)
        hits.append(e.low <= truth <= e.high)
    est = np.asarray(est)
    assert abs(est.mean() - truth) < 4 * est.std() / np.sqrt(len(est))
    assert 0.85 <= np.mean(hits) <= 0.96


def test_weighted_group_total():
    f, y = population(9, size=1200)
    rng = np.random.default_rng(4)
    w = rng.choice([0.5, 1.0, 2.5], f.size)
    group = rng.random(f.size) < 0.4
    truth = float(np.sum(w * y * group))
    est, hits = [], []
    for _ in range(400):
        audit = draw_audit(rng, np.ones(f.size, bool), 250)
        e = estimate_total(f, labels_for(y, audit), audit, weight=w, group=group, level=0.9)
        est.append(e.estimate)
        hits.append(e.low <= truth <= e.high)
    est = np.asarray(est)
    assert abs(est.mean() - truth) < 4 * est.std() / np.sqrt(len(est))
    assert 0.85 <= np.mean(hits) <= 0.96
    # weights of one are the unweighted estimate; doubling every weight doubles everything
    audit = draw_audit(rng, np.ones(f.size, bool), 250)
    lab = labels_for(y, audit)
    plain = estimate_total(f, lab, audit)
    ones = estimate_total(f, lab, audit, weight=np.ones(f.size))
    assert ones == plain
    single = estimate_total(f, lab, audit, weight=w, group=group)
    double = estimate_total(f, lab, audit, weight=2 * w, group=group)
    assert double.estimate == pytest.approx(2 * single.estimate)
    assert double.se == pytest.approx(2 * single.se)


def test_no_audit_is_model_based_and_flagged():
    f, y = population(10, size=400)
    train = train_stream(f, 30)
    est = estimate_total(f, labels_for(y, train), np.zeros(f.size, bool), level=0.9)
    rest = ~train
    assert not est.validated
    assert "not validated" in est.method
    assert est.estimate == pytest.approx(y[train].sum() + f[rest].sum())
    assert est.se == pytest.approx(np.sqrt(np.sum(f[rest] * (1 - f[rest]))))
    assert est.n_audit == 0
    # a single audit comment is not a sample: still model-based, its label counted as known
    one = np.zeros(f.size, bool)
    one[np.flatnonzero(rest)[0]] = True
    est1 = estimate_total(f, labels_for(y, train, one), one)
    assert not est1.validated and est1.n_audit == 1
    table = theme_estimates(
        f[:, None], (f > 0.5)[:, None], labels_for(y, train)[:, None], np.zeros(f.size, bool), ["t"]
    )
    assert not table.loc[0, "validated"] and table.loc[0, "indicative_only"]
    assert "not validated" in table.loc[0, "reason"]


def test_interval_stays_within_what_is_possible():
    f = np.full(200, 0.01)
    y = np.zeros(200)
    audit = np.zeros(200, bool)
    audit[:100] = True
    y[:3] = 1  # three positives, all in the audit
    est = estimate_total(f, labels_for(y, audit), audit)
    assert est.low >= 3 and est.estimate >= 3
    assert est.high <= 3 + 100


def test_reliability_uses_the_audit_only():
    code = np.array([1, 1, 0, 0, 1, 1, 1, 0], dtype=float)
    y = np.array([1, 0, 1, 0, 1, 1, 1, 1], dtype=float)
    audit = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    # rows 4-7 are train-stream labels (all correct but one): they must not count
    rel = reliability(code, y, audit)
    assert rel.precision == pytest.approx(0.5) and rel.recall == pytest.approx(0.5)
    assert rel.f1 == pytest.approx(0.5)
    assert (rel.audit_positives, rel.audit_predicted, rel.n_audit) == (2, 2, 4)
    none = reliability(np.zeros(4), np.zeros(4), np.ones(4, bool))
    assert np.isnan(none.recall) and np.isnan(none.f1)


def test_indicative_only_rules():
    ok, reason = indicative_only(100, 80, 120, f1=0.8, audit_positives=40)
    assert not ok and reason == ""
    weak, reason = indicative_only(100, 80, 120, f1=0.4, audit_positives=40)
    assert weak and "F1 0.40" in reason
    wide, reason = indicative_only(30, 5, 60, f1=0.8, audit_positives=40)
    assert wide and "interval width" in reason
    few, reason = indicative_only(100, 80, 120, f1=0.8, audit_positives=4)
    assert few and "only 4 audit" in reason
    relaxed, _ = indicative_only(100, 80, 120, f1=0.8, audit_positives=4, min_positives=3)
    assert not relaxed


def test_theme_and_group_tables_are_tidy():
    rng = np.random.default_rng(12)
    f1_, y1 = population(13, size=600)
    f2_, y2 = population(14, size=600, base=-1.0, bias=-0.5)
    P = np.column_stack([f1_, f2_])
    Y = np.column_stack([y1, y2])
    audit = draw_audit(rng, np.ones(600, bool), 150)
    labels = np.where(audit[:, None], Y, np.nan)
    table = theme_estimates(P, (P > 0.5).astype(int), labels, audit, ["one", "two"], level=0.9)
    assert list(table["theme_id"]) == ["one", "two"]
    for col in ("estimate", "low", "high", "se", "n_audit", "precision", "recall", "f1"):
        assert col in table.columns
    assert (table["low"] <= table["estimate"]).all() and (table["estimate"] <= table["high"]).all()
    assert table["validated"].all() and (table["n_audit"] == 150).all()
    group = pd.Series(rng.choice(["x", "y"], 600))
    group[:10] = None  # comments with no group value fall in no group
    by_group = theme_estimates(
        P, (P > 0.5).astype(int), labels, audit, ["one", "two"], group=group, level=0.9
    )
    assert len(by_group) == 4 and set(by_group["group"]) == {"x", "y"}
    # the groups and the comments in none of them partition the whole
    first = by_group[by_group["theme_id"] == "one"]
    outside = estimate_total(P[:, 0], labels[:, 0], audit, group=group.isna(), level=0.9)
    assert first["estimate"].sum() + outside.estimate == pytest.approx(table.loc[0, "estimate"])


def test_power_tuning():
    f, y = population(15, size=1000)
    audit = draw_audit(np.random.default_rng(2), np.ones(1000, bool), 200)
    est = estimate_total(f, labels_for(y, audit), audit, lam=None, floor="none")
    lam = tuned_lambda(y[audit], f[audit])
    assert 0 <= est.lam <= 1 and est.lam == pytest.approx(lam)
    slope = np.cov(y[audit], f[audit])[0, 1] / f[audit].var(ddof=1)
    assert lam == pytest.approx(np.clip(slope, 0, 1))
    manual = lam * f.sum() + 1000 / 200 * np.sum(y[audit] - lam * f[audit])
    assert est.estimate == pytest.approx(manual)
    # the tuned residuals never vary more than the plain ones
    plain = estimate_total(f, labels_for(y, audit), audit, floor="none")
    assert est.se <= plain.se + 1e-9


def test_recalibrate_matches_the_target_mean_and_keeps_order():
    f = np.array([0.01, 0.2, 0.5, 0.9])
    q = recalibrate(f, 0.2)
    assert q.mean() == pytest.approx(0.2, abs=1e-5)
    assert np.all(np.diff(q) > 0)
    assert recalibrate(np.zeros(5), 0.1) == pytest.approx(np.full(5, 0.1))


def test_bad_inputs_are_refused():
    f = np.full(10, 0.3)
    audit = np.zeros(10, bool)
    audit[:3] = True
    with pytest.raises(ValueError, match="audit comment needs"):
        estimate_total(f, np.full(10, np.nan), audit)
    with pytest.raises(ValueError, match="weights"):
        estimate_total(f, np.where(audit, 1.0, np.nan), audit, weight=-np.ones(10))
    with pytest.raises(ValueError, match="level"):
        estimate_total(f, np.where(audit, 1.0, np.nan), audit, level=1.5)


def test_matches_ppi_python_without_fpc():
    ppi = pytest.importorskip("ppi_py")
    f, y = population(16, size=20000)
    audit = draw_audit(np.random.default_rng(9), np.ones(f.size, bool), 400)
    size, n = f.size, int(audit.sum())
    ours = estimate_total(f, labels_for(y, audit), audit, level=0.9, floor="none", interval="z")
    low, high = ppi.ppi_mean_ci(y[audit], f[audit], f, alpha=0.1, lam=1)
    point = ppi.ppi_mean_pointestimate(y[audit], f[audit], f, lam=1)
    assert ours.estimate == pytest.approx(size * float(np.squeeze(point)))
    # ppi-python ignores the FPC and adds the (here tiny) variance of the model's mean
    width_no_fpc = (ours.high - ours.low) / np.sqrt(1 - n / size)
    assert width_no_fpc == pytest.approx(size * float(np.squeeze(high - low)), rel=0.02)
    tuned = estimate_total(f, labels_for(y, audit), audit, lam=None, floor="none", interval="z")
    tuned_point = ppi.ppi_mean_pointestimate(y[audit], f[audit], f, lam=None)
    assert tuned.estimate == pytest.approx(size * float(np.squeeze(tuned_point)), rel=0.01)
