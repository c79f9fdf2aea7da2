"""Multi-label theme classifier: TF-IDF and sentence-embedding linear models, averaged, calibrated.

Why this shape: on the NHS benchmark a frozen encoder alone barely beats TF-IDF, but the two make
different mistakes, so their average beats both. Each theme's TF-IDF model reads the features
weighted by that theme's naive-Bayes log-count ratios (`naive_bayes_text`, see `_fit_text_binary`):
better at every point of the learning curve, docs/benchmarks.md.
Everything downstream is about counts, so the probabilities are calibrated per theme (Platt on
out-of-fold scores) and each theme gets its own threshold, chosen on out-of-fold predictions and
shrunk towards a global one where a theme has few examples (a threshold fitted on ten positives
is mostly noise).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix, diags, hstack
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from tqdm import tqdm

log = logging.getLogger(__name__)


def _tfidf_union() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode"
    )
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=80_000
    )
    return words, chars


class _TextFeatures:
    """Word and character TF-IDF, fitted together; min_df falls back to 1 on tiny data."""

    def fit_transform(self, texts: list[str]) -> csr_matrix:
        self.vectorizers = _tfidf_union()
        if len(texts) < 50:
            for v in self.vectorizers:
                v.set_params(min_df=1)
        return hstack([v.fit_transform(texts) for v in self.vectorizers]).tocsr()

    def transform(self, texts: list[str]) -> csr_matrix:
        return hstack([v.transform(texts) for v in self.vectorizers]).tocsr()


def _fit_binary(X, y: np.ndarray, C: float, seed: int) -> LogisticRegression | float:
    """One theme's model, or the base rate when a fold holds no positives (or only positives)."""
    if y.min() == y.max():
        return float(y[0])
    model = LogisticRegression(
        C=C, class_weight="balanced", max_iter=2000, solver="liblinear", random_state=seed
    )
    return model.fit(X, y)


def _log_count_ratio(X: csr_matrix, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Per feature, log of how much more often it occurs in the theme's comments than in the rest."""
    present = (X > 0).astype(np.float64)
    p = alpha + np.asarray(present[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(present[y == 0].sum(axis=0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


def _fit_text_binary(T: csr_matrix, y: np.ndarray, C: float, seed: int):
    """One theme's text model on TF-IDF weighted by the theme's log-count ratios (NBSVM).

    Wang & Manning's (2012) naive-Bayes weighting lets a rare theme's telling words stand out
    before regularisation flattens them. On the NHS benchmark it gained 0.003 to 0.016 micro-F1
    at most curve points. Its uncertainty picks worse labels, so `label next`'s picker keeps plain
    TF-IDF (pipeline/select.py). The weights are folded into the coefficients afterwards, so the
    model reads plain TF-IDF.
    """
    if y.min() == y.max():
        return float(y[0])
    ratio = _log_count_ratio(T, y)
    model = _fit_binary(T @ diags(ratio), y, C, seed)
    model.coef_ = model.coef_ * ratio
    return model


def _predict_binary(model, X) -> np.ndarray:
    if isinstance(model, float):
        return np.full(X.shape[0], model)
    return model.predict_proba(X)[:, 1]


def _best_threshold(y: np.ndarray, p: np.ndarray, grid: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1; ties go to the threshold closest to 0.5."""
    best_t, best_f = 0.5, -1.0
    for t in grid:
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        denom = float(pred.sum() + y.sum())
        f = 2 * tp / denom if denom else 0.0
        if f > best_f + 1e-12 or (abs(f - best_f) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best_t, best_f = float(t), f
    return best_t, best_f


@dataclass
class _Calibrator:
    """Platt scaling per theme: a 1-D logistic fit of the raw ensemble score on out-of-fold data."""

    a: np.ndarray = field(default_factory=lambda: np.ones(0))
    b: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def fit(self, scores: np.ndarray, Y: np.ndarray) -> _Calibrator:
        k = Y.shape[1]
        self.a, self.b = np.ones(k), np.zeros(k)
        for j in range(k):
            if Y[:, j].min() == Y[:, j].max():
                continue
            z = self._logit(scores[:, j]).reshape(-1, 1)
            m = LogisticRegression(C=1e4, max_iter=1000).fit(z, Y[:, j])
            self.a[j], self.b[j] = float(m.coef_[0, 0]), float(m.intercept_[0])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self._logit(scores) * self.a + self.b)))


class ThemeClassifier(ClassifierMixin, BaseEstimator):
    """fit(texts, Y, embeddings=...) / predict_proba(texts, embeddings=...), one column per theme."""

    def __init__(
        self,
        C_text: float = 4.0,
        C_embedding: float = 2.0,
        cv: int = 4,
        min_positives: int = 3,
        threshold_shrinkage: float = 20.0,
        random_state: int = 42,
        progress: bool = True,
        embedding_model: str | None = "all-MiniLM-L6-v2",
        fine_tune_steps: int = 160,
        fine_tune_layers: int | None = 2,
        naive_bayes_text: bool = True,
    ) -> None:
        self.C_text = C_text
        self.C_embedding = C_embedding
        self.cv = cv
        self.min_positives = min_positives
        self.threshold_shrinkage = threshold_shrinkage
        self.random_state = random_state
        self.progress = progress
        self.embedding_model = embedding_model
        self.fine_tune_steps = fine_tune_steps
        self.fine_tune_layers = fine_tune_layers
        self.naive_bayes_text = naive_bayes_text

    def _embeddings(self, texts: list[str], embeddings) -> np.ndarray:
        """The rows given, checked against the texts, or computed with `embedding_model`."""
        if embeddings is None:
            if not self.embedding_model:
                raise ValueError(
                    "embeddings=None and no embedding_model to compute them: pass one embedding "
                    "row per text, or set embedding_model"
                )
            from pipeline.embed import embed_texts

            return embed_texts(texts, self.embedding_model, progress=self.progress)[0]
        E = np.asarray(embeddings, dtype=np.float32)
        if E.ndim != 2 or len(E) != len(texts):
            raise ValueError(
                f"embeddings must have one row per text: got shape {E.shape} for {len(texts)} texts"
            )
        expected = getattr(self, "embedding_dim_", None) or E.shape[1]
        if E.shape[1] != expected:
            raise ValueError(
                f"embeddings have {E.shape[1]} columns but the model was fitted on {expected}"
            )
        return E

    # -- base models -------------------------------------------------------------------------
    def _fit_base(self, texts: list[str], E: np.ndarray, Y: np.ndarray):
        features = _TextFeatures()
        T = features.fit_transform(texts)
        fit_text = _fit_text_binary if self.naive_bayes_text else _fit_binary
        text_models = [
            fit_text(T, Y[:, j], self.C_text, self.random_state) for j in range(Y.shape[1])
        ]
        emb_models = [
            _fit_binary(E, Y[:, j], self.C_embedding, self.random_state) for j in range(Y.shape[1])
        ]
        return features, text_models, emb_models

    @staticmethod
    def _score_base(base, texts: list[str], E: np.ndarray) -> np.ndarray:
        features, text_models, emb_models = base
        T = features.transform(texts)
        pt = np.column_stack([_predict_binary(m, T) for m in text_models])
        pe = np.column_stack([_predict_binary(m, E) for m in emb_models])
        return (pt + pe) / 2

    # -- sklearn API ---------------------------------------------------------------------------
    def fit(self, texts, Y, embeddings=None):
        texts = [str(t) for t in texts]
        Y = np.asarray(Y, dtype=np.int8)
        if Y.ndim != 2 or len(Y) != len(texts):
            raise ValueError(
                f"Y must have one row per text: got shape {Y.shape}, {len(texts)} texts"
            )
        self.__dict__.pop("embedding_dim_", None)
        tune = self._will_fine_tune()
        # a tuned encoder makes its own vectors: frozen ones are only checked if given
        E = None if tune and embeddings is None else self._embeddings(texts, embeddings)
        self.embedding_dim_ = None if E is None else E.shape[1]
        positives = Y.sum(axis=0)
        self.trained_ = positives >= self.min_positives
        self.n_labelled_ = len(texts)
        folds = max(
            2, min(self.cv, int(positives[self.trained_].min()) if self.trained_.any() else 2)
        )
        if tune:
            oof, self.cv_folds_, self.encoder_, E = self._tuned_out_of_fold(texts, Y, folds)
        else:
            oof, self.cv_folds_, self.encoder_ = self._out_of_fold(texts, E, Y, folds), folds, None
        self.calibrator_ = _Calibrator().fit(oof, Y)
        self.oof_proba_ = self.calibrator_.transform(oof)
        self.oof_proba_[:, ~self.trained_] = 0.0
        self.thresholds_ = self._choose_thresholds(self.oof_proba_, Y)
        self.base_ = self._fit_base(texts, E, Y)
        return self

    def _out_of_fold(self, texts: list[str], E: np.ndarray, Y: np.ndarray, folds: int):
        oof = np.zeros(Y.shape)
        splitter = KFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train_idx, test_idx in tqdm(
            list(splitter.split(texts)),
            desc="cross-validating",
            unit="fold",
            disable=not self.progress,
        ):
            base = self._fit_base([texts[i] for i in train_idx], E[train_idx], Y[train_idx])
            oof[test_idx] = self._score_base(base, [texts[i] for i in test_idx], E[test_idx])
        return oof

    def _tuned_out_of_fold(self, texts: list[str], Y: np.ndarray, folds: int):
        """(out-of-fold scores, number of parts, encoder tuned on all labels, its vectors).

        An encoder that saw a comment's label would make its cross-validated score, and so the
        counts' error, look too good; so each half of the labels gets an encoder tuned on the
        other half only. Tuning is the costly part, so the heads do not stop at halves: each
        half is split again and every part is scored by heads fitted on all the other labels,
        in the vectors of the encoder that never saw it (heads on half the labels lost 0.01-0.02
        micro-F1 on NHS).
        """
        from pipeline.finetune import frozen_states

        n = len(texts)
        states = frozen_states(self.embedding_model, texts, self.fine_tune_layers)
        rng = np.random.default_rng(self.random_state)
        halves = KFold(n_splits=2, shuffle=True, random_state=self.random_state).split(texts)
        oof, parts = np.zeros(Y.shape), 0
        for tune_idx, held_idx in tqdm(
            list(halves), desc="cross-validating", unit="half", disable=not self.progress
        ):
            encoder = self._tune(
                [texts[i] for i in tune_idx], Y[tune_idx], [states[i] for i in tune_idx]
            )
            E = encoder.encode_states(states)
            for part in np.array_split(rng.permutation(held_idx), math.ceil(folds / 2)):
                rest = np.setdiff1d(np.arange(n), part)
                base = self._fit_base([texts[i] for i in rest], E[rest], Y[rest])
                oof[part] = self._score_base(base, [texts[i] for i in part], E[part])
                parts += 1
        encoder = self._tune(texts, Y, states)
        return oof, parts, encoder, encoder.encode_states(states)

    def _will_fine_tune(self) -> bool:
        if not self.fine_tune_steps or not self.embedding_model:
            return False  # nothing to tune: the embeddings given are used as they are
        from pipeline.embed import load_model
        from pipeline.finetune import can_fine_tune

        if can_fine_tune(load_model(self.embedding_model)):
            return True
        log.warning(
            "%s cannot be fine-tuned (not a mean-pooled transformer): frozen", self.embedding_model
        )
        return False

    def _tune(self, texts: list[str], Y: np.ndarray, states: list):
        from pipeline.finetune import fine_tune, steps_for

        return fine_tune(
            self.embedding_model,
            texts,
            Y,
            steps_for(len(texts), self.fine_tune_steps),
            train_layers=self.fine_tune_layers,
            seed=self.random_state,
            progress=self.progress,
            states=states,
        )

    def _choose_thresholds(self, P: np.ndarray, Y: np.ndarray) -> np.ndarray:
        grid = np.round(np.arange(0.05, 0.951, 0.025), 3)
        trained = np.flatnonzero(self.trained_)
        # one global threshold on all trained themes pooled, then per-theme ones pulled towards it
        pooled_t, _ = _best_threshold(Y[:, trained].ravel(), P[:, trained].ravel(), grid)
        out = np.full(Y.shape[1], pooled_t)
        for j in trained:
            t_j, _ = _best_threshold(Y[:, j], P[:, j], grid)
            w = Y[:, j].sum() / (Y[:, j].sum() + self.threshold_shrinkage)
            out[j] = round(float(w * t_j + (1 - w) * pooled_t), 3)
        return out

    def predict_proba(self, texts, embeddings=None) -> np.ndarray:
        texts = [str(t) for t in texts]
        if getattr(self, "encoder_", None) is not None:
            E = self.encoder_.encode(texts)  # the tuned encoder's own vectors
        else:
            E = self._embeddings(texts, embeddings)
        P = self.calibrator_.transform(self._score_base(self.base_, texts, E))
        P[:, ~self.trained_] = 0.0
        return P

    def predict(self, texts, embeddings=None) -> np.ndarray:
        return (self.predict_proba(texts, embeddings) >= self.thresholds_).astype(np.int8)


def multilabel_metrics(Y: np.ndarray, pred: np.ndarray, theme_ids: list[str]) -> dict:
    """Micro, macro and per-theme precision/recall/F1 plus count error: the report is about counts."""
    Y = np.asarray(Y, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    tp = (Y & pred).sum(0).astype(float)
    fp = (~Y & pred).sum(0).astype(float)
    fn = (Y & ~pred).sum(0).astype(float)

    def prf(tp_, fp_, fn_):
        p = tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0
        r = tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}

    per_theme = {}
    for j, tid in enumerate(theme_ids):
        support, predicted = int(tp[j] + fn[j]), int(tp[j] + fp[j])
        per_theme[tid] = {
            **prf(tp[j], fp[j], fn[j]),
            "support": support,
            "predicted": predicted,
            "count_error": round((predicted - support) / support, 4) if support else None,
        }
    scored = [t for t in theme_ids if per_theme[t]["support"] > 0]
    macro = {
        k: round(float(np.mean([per_theme[t][k] for t in scored])), 4) if scored else 0.0
        for k in ("precision", "recall", "f1")
    }
    return {"micro": prf(tp.sum(), fp.sum(), fn.sum()), "macro": macro, "per_theme": per_theme}
