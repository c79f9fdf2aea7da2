#!/usr/bin/env python3
"""Learning curves on the NHS benchmark over several seeds: quality against the number of hand
labels, for labels picked at random and for labels picked the way `yousaid label push` does.

Each seed draws its own 70/30 split (seed 42 is the fixed split of the classifier table) and its
own random order. The model-chosen run replays the tool: a first batch spread over clusters, then
batches of the least certain comments, retraining after every batch (50 at a time up to 200
labels, 100 up to 500, 250 after that), just as an analyst pushes, labels and retrains. The picks
are made by the classifier with fine-tuning off (seconds per batch instead of minutes); every
point on the curve is scored with the default classifier.

Each seed's runs are kept in docs/learning_curve.json as soon as they finish, so a long run can
be continued seed by seed (`--seeds 43`); the section of docs/benchmarks.md and
docs/learning_curve.png are written from every seed recorded there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark import load_substantive  # noqa: E402
from docsection import write_section  # noqa: E402

from pipeline.classify import ThemeClassifier, multilabel_metrics  # noqa: E402
from pipeline.embed import embed_texts  # noqa: E402
from pipeline.select import choose_next, first_batch, picker_scores  # noqa: E402
from pipeline.settings import ClassifierSettings, LabelSettings  # noqa: E402

SECTION = "learning-curve"
# the curve before issue 14 (one seed, the fixed split, batches as large as the gaps between sizes)
BEFORE = {
    "random": {100: 0.504, 200: 0.560, 500: 0.609, 1000: 0.652, "all": 0.692},
    "model-chosen": {100: 0.511, 200: 0.545, 500: 0.641, 1000: 0.640, "all": 0.690},
}


def batch_ends(upto: int, first: int) -> list[int]:
    """Label counts after each simulated push: `first` at a time to 200, 100 to 500, then 250."""
    ends, n = [], 0
    while n < upto:
        n += first if n < 200 else (100 if n < 500 else 250)
        ends.append(min(n, upto))
    return ends


class Run:
    """One seed: the split, the data, and a classifier factory; scores fits on the test split."""

    def __init__(self, texts, E, Y, seed: int, classifier: dict, keep=lambda row: None) -> None:
        self.texts, self.E, self.Y, self.seed, self.classifier = texts, E, Y, seed, classifier
        self.keep = keep  # called with each scored row, as soon as it exists
        idx = np.arange(len(texts))
        self.train_idx, self.test_idx = train_test_split(idx, test_size=0.3, random_state=seed)

    def fit(self, rows: np.ndarray) -> tuple[ThemeClassifier, float]:
        clf = ThemeClassifier(random_state=self.seed, progress=False, **self.classifier)
        t0 = time.perf_counter()
        clf.fit([self.texts[i] for i in rows], self.Y[rows], embeddings=self.E[rows])
        return clf, time.perf_counter() - t0

    def score(self, clf: ThemeClassifier, rows: np.ndarray, seconds: float, strategy: str) -> dict:
        te = self.test_idx
        pred = clf.predict([self.texts[i] for i in te], self.E[te])
        m = multilabel_metrics(self.Y[te], pred, list(range(self.Y.shape[1])))
        row = {
            "seed": self.seed,
            "strategy": strategy,
            "labels": len(rows),
            "micro_f1": m["micro"]["f1"],
            "macro_f1": m["macro"]["f1"],
            "train_seconds": round(seconds, 1),
        }
        print(
            f"  seed {self.seed} {strategy:<12} n={len(rows):>4}: micro {row['micro_f1']:.3f} "
            f"macro {row['macro_f1']:.3f} ({seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        self.keep(row)
        return row

    def random_curve(self, sizes: list[int]) -> list[dict]:
        order = np.random.default_rng(self.seed).permutation(self.train_idx)
        rows = []
        for n in sizes:
            clf, secs = self.fit(order[:n])
            rows.append(self.score(clf, order[:n], secs, "random"))
        return rows

    def chosen_curve(self, sizes: list[int], batch: int) -> list[dict]:
        rows = []
        pushes = replay_label_push(
            self.texts,
            self.E,
            self.Y,
            self.train_idx,
            max(sizes),
            batch,
            self.classifier,
            self.seed,
        )
        for end, picked in pushes:
            if end in sizes:
                labelled = self.train_idx[picked]
                clf, secs = self.fit(labelled)
                rows.append(self.score(clf, labelled, secs, "model-chosen"))
        return rows


def replay_label_push(texts, E, Y, rows, upto: int, batch: int, params: dict, seed: int):
    """Yield (labels so far, positions in `rows` picked) after each simulated `label push`.

    As the tool does (pipeline.stages.label.choose): a first batch spread over clusters, then
    each batch the comments a picker fitted on every label so far is least sure of, never one
    already picked.
    """
    pool = pd.DataFrame({"id": [str(i) for i in rows]})
    vectors, pool_texts = E[rows], [texts[i] for i in rows]
    picked = first_batch(pool, vectors, batch, seed=seed)
    for end in batch_ends(upto, batch):
        if end > len(picked):
            probs, thresholds = picker_scores(
                pool_texts, vectors, np.array(picked), Y[rows[picked]], params, seed
            )
            done = pool["id"].iloc[picked].tolist()
            picked += choose_next(
                pool, vectors, probs, end - len(picked), thresholds, done, seed=seed
            )
        yield end, list(picked)


def summarise(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per (strategy, size); 'all' is keyed by its label count per seed."""
    return (
        curve.groupby(["size", "strategy"], sort=False)
        .agg(
            labels=("labels", "mean"),
            micro=("micro_f1", "mean"),
            micro_sd=("micro_f1", "std"),
            macro=("macro_f1", "mean"),
            macro_sd=("macro_f1", "std"),
            seconds=("train_seconds", "mean"),
            seeds=("seed", "nunique"),
        )
        .reset_index()
        .sort_values(["labels", "strategy"], kind="stable")
    )


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, metric in zip(axes, ("micro", "macro"), strict=True):
        for strategy, marker in (("random", "o"), ("model-chosen", "s")):
            part = summary[summary.strategy == strategy]
            ax.errorbar(
                part["labels"],
                part[metric],
                yerr=part[f"{metric}_sd"].fillna(0),
                marker=marker,
                capsize=3,
                label=strategy,
            )
        before = BEFORE["random"]
        xs = [k for k in before if k != "all"]
        if metric == "micro":
            ax.plot(xs, [before[k] for k in xs], ls="--", color="grey", label="random, before")
        ax.set_xscale("log")
        ax.set_xlabel("hand labels")
        ax.set_title(f"{metric} F1 (mean ± sd over seeds)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("F1 on each seed's 30% test split")
    axes[0].legend()
    fig.suptitle("NHS benchmark: quality against number of hand labels")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(summary: pd.DataFrame) -> list[str]:
    lines = [
        "| labels | random micro F1 | model-chosen micro F1 | gain of model-chosen "
        "| random macro F1 | model-chosen macro F1 | micro F1 before (random / chosen) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(row, metric: str) -> str:
        if row is None:
            return "not measured"
        sd = row[f"{metric}_sd"]
        return (
            f"{row[metric]:.3f} ± {sd:.3f} ({row.seeds})"
            if row.seeds > 1
            else f"{row[metric]:.3f} (1)"
        )

    for size, part in summary.groupby("size", sort=False):
        rows = {
            s: (part[part.strategy == s].iloc[0] if (part.strategy == s).any() else None)
            for s in BEFORE
        }
        r, c = rows["random"], rows["model-chosen"]
        if size == "all":
            c = r  # with every label the two runs are one
        gain = f"{c.micro - r.micro:+.3f}" if r is not None and c is not None else ""
        before = " / ".join(f"{BEFORE[s][size]:.3f}" if size in BEFORE[s] else "–" for s in BEFORE)
        labels = (r if r is not None else c).labels
        lines.append(
            f"| {size if size != 'all' else f'all ({labels:.0f})'} | {cell(r, 'micro')} | "
            f"{cell(c, 'micro')} | {gain} | {cell(r, 'macro')} | {cell(c, 'macro')} | {before} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "nhs_fft"
    )
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--sizes", default="50,100,200,500,1000,all")
    parser.add_argument("--batch", type=int, default=LabelSettings().batch)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument(
        "--strategies",
        type=lambda v: v.split(","),
        default=["random", "model-chosen"],
        help="random,model-chosen (runs add to docs/learning_curve.json)",
    )
    parser.add_argument(
        "--fine-tune-steps", type=int, help="override the default (0: the frozen encoder's curve)"
    )
    args = parser.parse_args()
    if not (args.data / "comments.csv").exists():
        print(f"benchmark data not found at {args.data}: skipping", file=sys.stderr)
        return 0
    codebook, frame, texts, Y = load_substantive(args.data)
    E, _ = embed_texts(texts, args.model, cache_dir=ROOT / ".cache" / "embeddings")
    classifier = ClassifierSettings().estimator_params()
    if args.fine_tune_steps is not None:
        classifier["fine_tune_steps"] = args.fine_tune_steps
    store = args.doc.parent / "learning_curve.json"

    def keep(row: dict) -> None:
        """Add one scored row to the store (read just before writing: runs may be parallel)."""
        row["size"] = "all" if row["labels"] == n_train else row["labels"]
        saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
        if saved.get("classifier") != classifier:
            saved = {"classifier": classifier, "runs": []}  # another classifier: not comparable
        same = (row["seed"], row["strategy"], row["labels"])
        saved["runs"] = [
            r for r in saved["runs"] if (r["seed"], r["strategy"], r["labels"]) != same
        ] + [row]
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")

    for seed in (int(s) for s in args.seeds.split(",")):
        run = Run(texts, E, Y, seed, classifier, keep)
        n_train = len(run.train_idx)
        sizes = sorted(
            {n_train if s == "all" else min(int(s), n_train) for s in args.sizes.split(",")}
        )
        if "random" in args.strategies:
            run.random_curve(sizes)
        if "model-chosen" in args.strategies:
            run.chosen_curve([s for s in sizes if s < n_train], args.batch)
    records = json.loads(store.read_text(encoding="utf-8"))["runs"]
    curve = pd.DataFrame(records)
    summary = summarise(curve)
    plot(summary, args.doc.parent / "learning_curve.png")
    seeds = sorted(int(x) for x in curve["seed"].unique())
    lines = [
        "## Learning curve (NHS benchmark, several seeds)",
        "",
        f"`make bench` ({Path(__file__).name}): {len(frame)} substantive comments, "
        f"{len(codebook.ids)} themes; {len(seeds)} seeds ({', '.join(map(str, seeds))}), each with its own 70/30 split "
        "and random order; mean ± sd over the seeds (their number in brackets). "
        "*Model-chosen* replays `yousaid label push`: a "
        f"first batch of {args.batch} spread over clusters, then the least certain comments spread "
        f"over clusters, each batch chosen by a picker fitted on every label so far ({args.batch} "
        "at a time to 200 labels, 100 to 500, then 250; the picker is `pipeline.select.PICKER`: "
        "encoder frozen, plain TF-IDF, seconds per batch). *Before* is the single-seed curve this "
        "replaced (batches as large as the gaps between sizes). Every "
        f"point is scored with the default classifier ({classifier}). Training times are in "
        "docs/learning_curve.json (measured while the seeds ran in parallel: indicative only).",
        "",
        *table(summary),
        "",
        "![learning curve](learning_curve.png)",
    ]
    write_section(args.doc, SECTION, "\n".join(lines))
    print(args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
