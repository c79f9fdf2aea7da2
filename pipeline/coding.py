"""Train, code and evaluate: the glue between labelled data, embeddings and the classifier."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import modeldir
from pipeline.classify import ThemeClassifier, multilabel_metrics
from pipeline.codebook import Codebook
from pipeline.embed import embed_texts
from pipeline.errors import InputError
from pipeline.labelled import join_labels, label_matrix, read_labelled

log = logging.getLogger(__name__)


def _digest(frame: pd.DataFrame) -> str:
    blob = "\n".join(f"{i}\t{t}\t{lab}" for i, t, lab in zip(frame["id"], frame["text"], frame["labels"], strict=True))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def train(
    labelled_path: str | Path,
    codebook: Codebook,
    model_dir: str | Path,
    embedding_model: str,
    cache_dir: str | Path | None,
    seed: int = 42,
    settings: dict | None = None,
) -> dict:
    """Fit on every labelled comment, write the model dir; returns the cross-validated metrics."""
    settings = dict(settings or {})
    frame = read_labelled(labelled_path, codebook)
    theme_ids = codebook.ids
    Y = label_matrix(frame["labels"], theme_ids)
    positives = dict(zip(theme_ids, Y.sum(0).tolist(), strict=True))
    zero = [t for t, n in positives.items() if n == 0]
    if zero:
        log.warning("no labelled examples for: %s (they will not be coded)", ", ".join(zero))
    E, _ = embed_texts(frame["text"].tolist(), embedding_model, cache_dir=cache_dir)
    clf = ThemeClassifier(random_state=seed, **settings)
    clf.fit(frame["text"].tolist(), Y, embeddings=E)
    oof_pred = (clf.oof_proba_ >= clf.thresholds_).astype(np.int8)
    metrics = multilabel_metrics(Y, oof_pred, theme_ids)
    untrained = [t for t, ok in zip(theme_ids, clf.trained_, strict=True) if not ok]
    meta = {
        "model_version": modeldir.model_version(_digest(frame), {"seed": seed, **settings, "embedding": embedding_model}, codebook),
        "theme_ids": theme_ids,
        "thresholds": [float(t) for t in clf.thresholds_],
        "untrained_themes": untrained,
        "min_positives": clf.min_positives,
        "codebook_fingerprint": codebook.fingerprint(),
        "embedding_model": embedding_model,
        "labelled_file": str(labelled_path),
        "n_labelled": int(len(frame)),
        "n_no_theme": int((Y.sum(1) == 0).sum()),
        "positives": positives,
        "cv_folds": clf.cv_folds_,
        "seed": seed,
    }
    metrics.update({
        "n_labelled": meta["n_labelled"],
        "model_version": meta["model_version"],
        "cv_folds": clf.cv_folds_,
        "untrained_themes": untrained,
    })
    modeldir.save(model_dir, clf, meta, metrics, modeldir.model_card(meta, metrics, codebook))
    return metrics


def code(
    comments: pd.DataFrame,
    model: modeldir.TrainedModel,
    embeddings: np.ndarray,
    review_margin: float = 0.15,
) -> pd.DataFrame:
    """Every row out, in order: input columns + labels, prob_/code_ per theme, needs_review."""
    if "text" not in comments.columns:
        raise InputError("comments", "required column 'text' is missing", column="text")
    theme_ids = model.theme_ids
    thresholds = np.asarray(model.meta["thresholds"])
    out = comments.copy()
    substantive = out["substantive"].to_numpy(dtype=bool) if "substantive" in out else np.ones(len(out), bool)
    P = np.zeros((len(out), len(theme_ids)))
    if substantive.any():
        P[substantive] = model.estimator.predict_proba(
            out.loc[substantive, "text"].tolist(), np.asarray(embeddings)[substantive]
        )
    codes = (P >= thresholds).astype(np.int8)
    codes[~substantive] = 0
    trained = np.array([t not in model.meta["untrained_themes"] for t in theme_ids])
    near = (np.abs(P - thresholds) < review_margin) & trained
    out["labels"] = [join_labels([t for t, c in zip(theme_ids, row, strict=True) if c]) for row in codes]
    for j, tid in enumerate(theme_ids):
        out[f"prob_{tid}"] = np.round(P[:, j], 4)
    for j, tid in enumerate(theme_ids):
        out[f"code_{tid}"] = codes[:, j]
    out["needs_review"] = (near.any(axis=1) & substantive).astype(np.int8)
    out["model_version"] = model.version
    return out


def evaluate(model: modeldir.TrainedModel, frame: pd.DataFrame, embeddings: np.ndarray) -> dict:
    """Held-out metrics in the metrics.json shape."""
    Y = label_matrix(frame["labels"], model.theme_ids)
    P = model.estimator.predict_proba(frame["text"].tolist(), embeddings)
    pred = (P >= np.asarray(model.meta["thresholds"])).astype(np.int8)
    metrics = multilabel_metrics(Y, pred, model.theme_ids)
    metrics.update({"n_labelled": int(len(frame)), "model_version": model.version})
    return metrics
