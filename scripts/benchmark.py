#!/usr/bin/env python3
"""Classifier quality on the NHS benchmark's fixed 70/30 split: yousaid (default, and with the
encoder frozen) against a TF-IDF baseline, per theme, with count errors.

Writes its section of docs/benchmarks.md (between markers, leaving other sections alone); the
learning curves are benchmark_curve.py's. Run with `make bench`; skips with a message if the
benchmark is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docsection import write_section  # noqa: E402

from pipeline.classify import ThemeClassifier, multilabel_metrics  # noqa: E402
from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.embed import embed_texts  # noqa: E402
from pipeline.labelled import label_matrix, read_labelled  # noqa: E402

SECTION = "classifier-benchmark"  # its markers in docs/benchmarks.md


def baseline(train_texts, Y_train, test_texts) -> np.ndarray:
    """TF-IDF word n-grams + one logistic regression per theme at threshold 0.5: the bar to beat."""
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    A, B = vec.fit_transform(train_texts), vec.transform(test_texts)
    pred = np.zeros((B.shape[0], Y_train.shape[1]), dtype=np.int8)
    for j in range(Y_train.shape[1]):
        if Y_train[:, j].min() == Y_train[:, j].max():
            continue
        m = LogisticRegression(
            C=4.0, class_weight="balanced", max_iter=2000, solver="liblinear"
        ).fit(A, Y_train[:, j])
        pred[:, j] = m.predict_proba(B)[:, 1] >= 0.5
    return pred


def load_substantive(data: Path):
    """(codebook, frame, texts, Y) of the benchmark's substantive comments, in file order."""
    codebook = load_codebook(data / "codebook.yaml")
    frame = read_labelled(data / "comments.csv", codebook)
    frame = frame[frame["non_substantive"].astype(str) == "0"].reset_index(drop=True)
    texts = frame["text"].fillna("").astype(str).tolist()
    return codebook, frame, texts, label_matrix(frame["labels"], codebook.ids)


def nhs_parser(description: str | None) -> argparse.ArgumentParser:
    """The arguments every NHS benchmark takes: its data, the seed, and the doc it writes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "nhs_fft"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser


def data_missing(data: Path) -> bool:
    """True, said on stderr, when the benchmark data is not beside the project (CI skips)."""
    if (data / "comments.csv").exists():
        return False
    print(f"benchmark data not found at {data}: skipping", file=sys.stderr)
    return True


def fit_predict(texts, E, Y, train_idx, test_idx, seed, **params):
    clf = ThemeClassifier(random_state=seed, progress=False, **params)
    clf.fit([texts[i] for i in train_idx], Y[train_idx], embeddings=E[train_idx])
    P = clf.predict_proba([texts[i] for i in test_idx], E[test_idx])
    return clf, P


def main() -> int:
    parser = nhs_parser(__doc__)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    args = parser.parse_args()
    if data_missing(args.data):
        return 0
    codebook, frame, texts, Y = load_substantive(args.data)
    idx = np.arange(len(frame))
    train_idx, test_idx = train_test_split(idx, test_size=0.3, random_state=args.seed)

    t0 = time.perf_counter()
    E, _ = embed_texts(texts, args.model, cache_dir=ROOT / ".cache" / "embeddings")
    embed_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    clf, P = fit_predict(texts, E, Y, train_idx, test_idx, args.seed)
    train_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours = (P >= clf.thresholds_).astype(np.int8)
    t0 = time.perf_counter()
    frozen, P_frozen = fit_predict(texts, E, Y, train_idx, test_idx, args.seed, fine_tune_steps=0)
    frozen_s = time.perf_counter() - t0
    m_frozen = multilabel_metrics(
        Y[test_idx], (P_frozen >= frozen.thresholds_).astype(np.int8), codebook.ids
    )
    m_ours = multilabel_metrics(Y[test_idx], ours, codebook.ids)
    m_base = multilabel_metrics(
        Y[test_idx],
        baseline([texts[i] for i in train_idx], Y[train_idx], [texts[i] for i in test_idx]),
        codebook.ids,
    )
    expected = P.sum(axis=0)  # count estimate from calibrated probabilities
    # the report's corrected count: classified count x precision / recall from the training CV
    cv = multilabel_metrics(
        Y[train_idx], (clf.oof_proba_ >= clf.thresholds_).astype(np.int8), codebook.ids
    )
    corrected = np.array(
        [
            ours[:, j].sum() * cv["per_theme"][t]["precision"] / cv["per_theme"][t]["recall"]
            if cv["per_theme"][t]["recall"] > 0
            else ours[:, j].sum()
            for j, t in enumerate(codebook.ids)
        ]
    )
    print(
        f"yousaid micro {m_ours['micro']['f1']:.3f} macro {m_ours['macro']['f1']:.3f}; "
        f"baseline micro {m_base['micro']['f1']:.3f} macro {m_base['macro']['f1']:.3f}",
        file=sys.stderr,
    )

    lines = [
        "## Classifier quality (NHS benchmark)",
        "",
        f"`make bench` ({Path(__file__).name}): {len(frame)} substantive comments of `{args.data.name}`, "
        f"{len(codebook.ids)} themes, a fixed 70/30 split (seed {args.seed}): {len(train_idx)} to train, "
        f"{len(test_idx)} to test. Embeddings: {args.model}.",
        "",
        "| model | micro P | micro R | micro F1 | macro F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in (
        ("TF-IDF + logistic regression (baseline)", m_base),
        ("yousaid, encoder frozen (`fine_tune_steps: 0`)", m_frozen),
        ("yousaid (default: encoder fine-tuned on the labels)", m_ours),
    ):
        lines.append(
            f"| {name} | {m['micro']['precision']:.3f} | {m['micro']['recall']:.3f} | "
            f"**{m['micro']['f1']:.3f}** | **{m['macro']['f1']:.3f}** |"
        )
    lines += [
        "",
        f"Training on {len(train_idx)} labels took {train_s:.0f} s by default ({frozen_s:.0f} s with "
        f"the encoder frozen; frozen embeddings cached, computing them took {embed_s:.0f} s this run); "
        f"peak memory of the process after the default fit {peak_mib:.0f} MiB. Predicting the "
        f"{len(test_idx)} test comments re-encodes them with the tuned encoder.",
        "",
        "Per theme on the test split (count error = (predicted - true) / true; the expected count is the sum "
        "of calibrated probabilities; the corrected count is the classified count x cross-validated "
        "precision / recall, which is what the report publishes):",
        "",
        "| theme | test comments | F1 (baseline) | F1 (yousaid) | count error (classified) "
        "| count error (expected) | count error (corrected) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    big = []
    for j, tid in enumerate(codebook.ids):
        mo, mb = m_ours["per_theme"][tid], m_base["per_theme"][tid]
        support = mo["support"]
        exp_err = (expected[j] - support) / support if support else float("nan")
        cor_err = (corrected[j] - support) / support if support else float("nan")
        if support >= 30:
            big.append((tid, mo["count_error"], exp_err, cor_err))
        ce = "" if mo["count_error"] is None else f"{mo['count_error']:+.0%}"
        lines.append(
            f"| {codebook.by_id[tid].name} | {support} | {mb['f1']:.3f} | {mo['f1']:.3f} | {ce} | "
            f"{exp_err:+.0%} | {cor_err:+.0%} |"
        )
    within = sum(abs(c) < 0.15 for _, c, _, _ in big)
    within_exp = sum(abs(e) < 0.15 for _, _, e, _ in big)
    within_cor = sum(abs(e) < 0.15 for _, _, _, e in big)
    lines += [
        "",
        f"Themes with at least 30 test comments: {len(big)}; classified count within 15% of the truth for "
        f"{within}, expected count (sum of probabilities) within 15% for {within_exp}, corrected count "
        f"(classified x cross-validated precision / recall, as the report does) within 15% for {within_cor}.",
        "",
    ]
    write_section(args.doc, SECTION, "\n".join(lines))
    (args.doc.parent / "benchmark_classifier.json").write_text(
        json.dumps(
            {
                "yousaid": m_ours,
                "baseline": m_base,
                "train_seconds": train_s,
                "frozen": m_frozen,
                "frozen_train_seconds": frozen_s,
                "peak_mib": peak_mib,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
