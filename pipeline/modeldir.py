"""A trained model on disk: the estimator, what it was trained for, its metrics and a model card.

The directory carries a copy of the codebook it was trained with, so it codes anywhere on its own;
it is refused for a codebook whose theme ids differ from that one: a model that silently codes
into the wrong themes is worse than no model.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import joblib

from pipeline import __version__
from pipeline.codebook import Codebook, load_codebook
from pipeline.errors import YousaidError
from pipeline.safety import md_code, md_text
from pipeline.tables import atomic_path

MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"
CODEBOOK_FILE = "codebook.yaml"
STANCE_FILE = "stance.joblib"


@dataclass
class TrainedModel:
    estimator: object
    meta: dict
    codebook: Codebook
    stance: object | None = None  # pipeline.stance.StanceModel, for codebooks with stances

    @property
    def theme_ids(self) -> list[str]:
        return list(self.meta["theme_ids"])

    @property
    def version(self) -> str:
        return str(self.meta["model_version"])


def model_version(label_digest: str, settings: dict, codebook: Codebook) -> str:
    """Content-derived, so retraining on the same labels and settings gives the same version."""
    blob = json.dumps([__version__, label_digest, settings, codebook.fingerprint()], sort_keys=True)
    return f"yousaid-{__version__}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save(
    model_dir: str | Path,
    estimator: object,
    meta: dict,
    metrics: dict,
    card: str,
    codebook: Codebook,
    stance: object | None = None,
) -> Path:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _write_text(model_dir / CODEBOOK_FILE, Path(codebook.path).read_text(encoding="utf-8"))
    with atomic_path(model_dir / MODEL_FILE) as tmp:
        joblib.dump(estimator, tmp, compress=3)
    if stance is not None:
        with atomic_path(model_dir / STANCE_FILE) as tmp:
            joblib.dump(stance, tmp, compress=3)
    else:
        (model_dir / STANCE_FILE).unlink(missing_ok=True)
    _write_text(model_dir / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    _write_text(model_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    _write_text(model_dir / CARD_FILE, card)
    return model_dir


def load(model_dir: str | Path, codebook: Codebook | None = None) -> TrainedModel:
    """The model with the codebook it carries; `codebook`, if given, must have the same theme ids."""
    model_dir = Path(model_dir)
    needed = (MODEL_FILE, META_FILE, CODEBOOK_FILE)
    if not all((model_dir / name).exists() for name in needed):
        raise YousaidError(f"{model_dir}: no trained model here; run `yousaid train` first")
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    own = load_codebook(model_dir / CODEBOOK_FILE)
    if codebook is not None and meta.get("codebook_fingerprint") != codebook.fingerprint():
        theirs, ours = set(meta.get("theme_ids", [])), set(codebook.ids)
        diff = []
        if ours - theirs:
            diff.append(f"new in the codebook: {', '.join(sorted(ours - theirs))}")
        if theirs - ours:
            diff.append(f"missing from the codebook: {', '.join(sorted(theirs - ours))}")
        raise YousaidError(
            f"{model_dir}: trained for a different codebook than {codebook.path} "
            f"({'; '.join(diff)}); retrain with `yousaid train`"
        )
    stance = joblib.load(model_dir / STANCE_FILE) if (model_dir / STANCE_FILE).exists() else None
    return TrainedModel(joblib.load(model_dir / MODEL_FILE), meta, codebook or own, stance)


def model_card(meta: dict, metrics: dict, codebook: Codebook) -> str:
    """Human-readable summary an analyst can attach to a published report.

    Theme names, ids and paths are the analyst's text: escaped, so a name like `<b>` or `a|b`
    is shown as typed instead of becoming markup or breaking the table.
    """
    lines = [
        f"# Model card: {md_text(meta['model_version'])}",
        "",
        f"- Trained: {date.today().isoformat()} with yousaid {__version__}, Python {platform.python_version()}",
        f"- Labelled data: {md_code(meta['labelled_file'])}, {meta['n_labelled']} comments "
        f"({meta['n_no_theme']} with no theme)",
        f"- Codebook: {md_code(codebook.path)} ({len(codebook.ids)} themes, fingerprint {codebook.fingerprint()})",
        f"- Embeddings: {md_text(meta['embedding_model'])}"
        + (", its top layers fine-tuned on these labels" if meta.get("fine_tuned") else "")
        + "; classifier: TF-IDF (words + characters"
        + (
            ", weighted per theme by naive-Bayes log-count ratios"
            if meta.get("naive_bayes_text")
            else ""
        )
        + ") and embedding logistic regressions, averaged, Platt-calibrated per theme",
        f"- Metrics: {meta['cv_folds']}-fold cross-validation on the labelled data "
        + (
            "(each half of the labels is scored by an encoder tuned on the other half only, "
            "so no comment is scored by an encoder that saw its label; "
            if meta.get("fine_tuned")
            else "("
        )
        + "thresholds chosen on the same out-of-fold predictions, so slightly optimistic)",
        "",
        f"Micro F1 **{metrics['micro']['f1']:.3f}** (precision {metrics['micro']['precision']:.3f}, "
        f"recall {metrics['micro']['recall']:.3f}); macro F1 **{metrics['macro']['f1']:.3f}**.",
        "",
        "| theme | labelled | threshold | precision | recall | F1 | count error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tid, threshold in zip(meta["theme_ids"], meta["thresholds"], strict=True):
        m = metrics["per_theme"][tid]
        name = md_text(codebook.by_id[tid].name if tid in codebook.by_id else tid)
        if tid in meta["untrained_themes"]:
            lines.append(f"| {name} | {m['support']} | not trained (too few examples) | | | | |")
            continue
        err = "" if m["count_error"] is None else f"{m['count_error']:+.0%}"
        lines.append(
            f"| {name} | {m['support']} | {threshold:.3f} | {m['precision']:.3f} | "
            f"{m['recall']:.3f} | {m['f1']:.3f} | {err} |"
        )
    if meta["untrained_themes"]:
        lines += [
            "",
            f"Themes with fewer than {meta['min_positives']} labelled examples are not coded "
            f"(probability 0): {', '.join(md_text(t) for t in meta['untrained_themes'])}. "
            "Label more of them.",
        ]
    lines += [
        "",
        "Count error is (predicted - true) / true in cross-validation: the report corrects for it.",
    ]
    return "\n".join(lines) + "\n"
