"""Train, code and evaluate: the glue between labelled data, embeddings and the classifier."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import modeldir
from pipeline.classify import ThemeClassifier, multilabel_metrics
from pipeline.codebook import Codebook
from pipeline.columns import code_col, prob_col, stance_col
from pipeline.embed import embed_texts
from pipeline.errors import InputError
from pipeline.labelled import join_labels, label_matrix, read_labelled
from pipeline.stance import StanceModel

log = logging.getLogger(__name__)


def _digest(frame: pd.DataFrame) -> str:
    blob = "\n".join(
        f"{i}\t{t}\t{lab}"
        for i, t, lab in zip(frame["id"], frame["text"], frame["labels"], strict=True)
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def training_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels a model may learn from: never the blind audit sample.

    Why: the audit sample measures the model's error for the published counts; a model fitted on
    it would look better on it than it is, and the corrected counts would inherit that.
    """
    if "sample" not in frame.columns:
        return frame
    return frame[frame["sample"] != "audit"].reset_index(drop=True)


def shareable_texts(
    texts: list[str], allow: Sequence[str] = (), patterns: Mapping[str, str] | None = None
) -> list[str]:
    from pipeline.privacy import redact_many

    return [r.text for r in redact_many(texts, allow=allow, patterns=patterns)]


def train(
    labelled_path: str | Path,
    codebook: Codebook,
    model_dir: str | Path,
    embedding_model: str,
    cache_dir: str | Path | None,
    seed: int = 42,
    settings: dict | None = None,
    redaction_allow: Sequence[str] = (),
    redaction_patterns: Mapping[str, str] | None = None,
) -> dict:
    """Fit on the labelled comments (not the audit sample), write the model dir; returns the
    cross-validated metrics.

    The word and character features are learnt from redacted texts, so the saved vocabulary holds
    no names, emails or numbers of anyone (the model directory is shareable); embeddings keep
    the original wording, since a vector stores no token.
    """
    settings = dict(settings or {})
    frame = training_labels(read_labelled(labelled_path, codebook))
    theme_ids = codebook.ids
    Y = label_matrix(frame["labels"], theme_ids)
    positives = dict(zip(theme_ids, Y.sum(0).tolist(), strict=True))
    zero = [t for t, n in positives.items() if n == 0]
    if zero:
        log.warning("no labelled examples for: %s (they will not be coded)", ", ".join(zero))
    E, _ = embed_texts(frame["text"].tolist(), embedding_model, cache_dir=cache_dir)
    clf = ThemeClassifier(random_state=seed, embedding_model=embedding_model, **settings)
    started = time.perf_counter()
    clf.fit(
        shareable_texts(frame["text"].tolist(), redaction_allow, redaction_patterns),
        Y,
        embeddings=E,
    )
    fit_seconds = round(time.perf_counter() - started, 1)  # said, never saved: files repeat
    stance = StanceModel().fit(
        codebook,
        E,
        frame["stance"].fillna("").astype(str).tolist(),
        lambda texts: embed_texts(texts, embedding_model, cache_dir=cache_dir, progress=False)[0],
    )
    oof_pred = (clf.oof_proba_ >= clf.thresholds_).astype(np.int8)
    metrics = multilabel_metrics(Y, oof_pred, theme_ids)
    untrained = [t for t, ok in zip(theme_ids, clf.trained_, strict=True) if not ok]
    meta = {
        "model_version": modeldir.model_version(
            _digest(frame), {"seed": seed, **settings, "embedding": embedding_model}, codebook
        ),
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
        "fine_tuned": clf.encoder_ is not None,
        "naive_bayes_text": bool(clf.naive_bayes_text),
        "seed": seed,
        "stance_support": stance.support_,
    }
    metrics.update(
        {
            "n_labelled": meta["n_labelled"],
            "model_version": meta["model_version"],
            "cv_folds": clf.cv_folds_,
            "untrained_themes": untrained,
            "fine_tuned": clf.encoder_ is not None,
        }
    )
    modeldir.save(
        model_dir,
        clf,
        meta,
        metrics,
        modeldir.model_card(meta, metrics, codebook),
        codebook,
        stance=stance if stance.themes else None,
    )
    return {**metrics, "fit_seconds": fit_seconds}


def predict_in_chunks(
    estimator,
    texts: list[str],
    embeddings: np.ndarray,
    rows: np.ndarray,
    chunk_size: int = 5000,
    progress: bool = True,
) -> np.ndarray:
    """predict_proba for `rows` of texts/embeddings, `chunk_size` rows at a time.

    Why: the character n-gram TF-IDF of 100,000 comments at once is the pipeline's memory peak
    (well over a gigabyte of sparse features); every step of prediction is row by row, so chunks
    give identical probabilities with memory bounded by the chunk. `embeddings` may be a
    memory-mapped array: only the chunk's rows are read.
    """
    from tqdm import tqdm

    out = None
    quiet = not progress or len(rows) <= chunk_size
    bar = tqdm(total=len(rows), desc="code", unit="comment", disable=quiet)
    for start in range(0, len(rows), chunk_size):
        part = rows[start : start + chunk_size]
        vectors = np.asarray(embeddings[part], dtype=np.float32)
        P = estimator.predict_proba([texts[i] for i in part], vectors)
        if out is None:
            out = np.zeros((len(rows), P.shape[1]))
        out[start : start + len(part)] = P
        bar.update(len(part))
    bar.close()
    return out if out is not None else np.zeros((0, 0))


def code(
    comments: pd.DataFrame,
    model: modeldir.TrainedModel,
    embeddings: np.ndarray,
    review_doubt: float = 0.3,
    chunk_size: int = 5000,
    progress: bool = True,
) -> pd.DataFrame:
    """Every row out, in order: input columns + labels, prob_/code_ per theme, needs_review.

    A comment needs review when one of its theme decisions is likely enough to be wrong: the
    calibrated probability of the theme when it was not coded, or of its absence when it was, is at
    least `review_doubt`. Unlike "a probability near its threshold", this does not flag every comment
    of a 36-theme codebook (some threshold is always near).
    """
    if "text" not in comments.columns:
        raise InputError("comments", "required column 'text' is missing", column="text")
    theme_ids = model.theme_ids
    thresholds = np.asarray(model.meta["thresholds"])
    substantive = (
        comments["substantive"].to_numpy(dtype=bool)
        if "substantive" in comments
        else np.ones(len(comments), bool)
    )
    P = np.zeros((len(comments), len(theme_ids)))
    rows = np.flatnonzero(substantive)
    if len(rows):
        texts = comments["text"].tolist()
        P[rows] = predict_in_chunks(model.estimator, texts, embeddings, rows, chunk_size, progress)
    codes = (P >= thresholds).astype(np.int8)
    codes[~substantive] = 0
    trained = np.array([t not in model.meta["untrained_themes"] for t in theme_ids])
    doubt = np.where(codes == 1, 1 - P, P)[:, trained]
    doubtful = doubt.max(axis=1) >= review_doubt if doubt.shape[1] else np.zeros(len(P), bool)
    names = np.array(theme_ids, dtype=object)
    # one "|".join per distinct code pattern, not per comment: a handful of patterns cover 100k rows
    labels = np.array([], dtype=object)
    if len(codes):
        patterns, inverse = np.unique(codes, axis=0, return_inverse=True)
        joined = [join_labels(list(names[row.astype(bool)])) for row in patterns]
        labels = np.array(joined, dtype=object)[inverse.ravel()]
    columns = {"labels": labels}
    for j, tid in enumerate(theme_ids):
        columns[prob_col(tid)] = np.round(P[:, j], 4)
    for j, tid in enumerate(theme_ids):
        columns[code_col(tid)] = codes[:, j]
    for tid in model.stance.themes if model.stance is not None else []:
        j = theme_ids.index(tid)
        in_theme = np.flatnonzero(codes[:, j] == 1)
        stance = np.full(len(codes), "", dtype=object)
        confidence = np.zeros(len(codes))
        if len(in_theme):
            ids, conf = model.stance.predict(tid, np.asarray(embeddings[in_theme]))
            stance[in_theme], confidence[in_theme] = ids, conf
        columns[stance_col(tid)] = stance
        columns[f"{stance_col(tid)}_confidence"] = np.round(confidence, 4)
    columns["needs_review"] = (doubtful & substantive).astype(np.int8)
    columns["model_version"] = model.version
    if any(c in comments.columns for c in columns):  # recoding a coded table: replace in place
        out = comments.copy()
        for name, values in columns.items():
            out[name] = values
        return out
    return pd.concat([comments, pd.DataFrame(columns, index=comments.index)], axis=1)


@lru_cache(maxsize=2)
def _model_once(model_dir: str) -> modeldir.TrainedModel:
    return modeldir.load(model_dir)


def code_partition(
    frame: pd.DataFrame,
    model_dir: str,
    cache_dir: str | None = None,
    review_doubt: float = 0.3,
) -> pd.DataFrame:
    """Embed and code one partition of the comments table: the unit a distributed engine maps.

    Pure per row, so `concat(code_partition(p) for p in partitions)` equals coding the whole table;
    the model is loaded once per worker process. For Dask:
    `dd.read_parquet(...).map_partitions(code_partition, model_dir, cache_dir)`; for Ray Data:
    `read_parquet(...).map_batches(code_partition, batch_format="pandas", fn_kwargs=...)`
    (docs/scaling.md).
    """
    model = _model_once(str(model_dir))
    vectors, _ = embed_texts(
        frame["text"].fillna("").astype(str).tolist(),
        model.meta["embedding_model"],
        cache_dir=cache_dir,
        progress=False,
    )
    return code(frame, model, vectors, review_doubt=review_doubt, progress=False)


def evaluate(model: modeldir.TrainedModel, frame: pd.DataFrame, embeddings: np.ndarray) -> dict:
    """Held-out metrics in the metrics.json shape."""
    Y = label_matrix(frame["labels"], model.theme_ids)
    P = model.estimator.predict_proba(frame["text"].tolist(), embeddings)
    pred = (P >= np.asarray(model.meta["thresholds"])).astype(np.int8)
    metrics = multilabel_metrics(Y, pred, model.theme_ids)
    metrics.update({"n_labelled": int(len(frame)), "model_version": model.version})
    return metrics
