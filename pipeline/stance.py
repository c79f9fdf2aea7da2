"""Stance within a theme (drugs: more enforcement vs legalise), coded for model-coded comments.

Why a nearest-centroid model: a consultation has a handful of hand-labelled stance examples per
theme (7 on the demo), too few for a discriminative classifier. Each stance's centroid is the mean
of its labelled examples' embeddings plus the embedding of the stance's own words ("Drugs: More
enforcement") counted as `prompt_weight` examples, so it starts from the codebook and learns from
every label. Confidence is a softmax over cosine similarities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pipeline.codebook import Codebook
from pipeline.labelled import split_labels


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def stance_prompts(codebook: Codebook) -> list[tuple[str, str, str]]:
    """(theme id, stance id, prompt text) for every stance in the codebook."""
    return [
        (t.id, s.id, f"{t.name}: {s.name}. {t.description}".strip())
        for t in codebook.themes
        for s in t.stances
    ]


class StanceModel:
    """Per theme: one unit centroid per stance; `temperature` sharpens the softmax confidence."""

    def __init__(self, prompt_weight: float = 2.0, temperature: float = 20.0) -> None:
        self.prompt_weight = prompt_weight
        self.temperature = temperature

    def fit(
        self,
        codebook: Codebook,
        embeddings: np.ndarray,
        stances: Sequence[str],
        embed: Callable[[list[str]], np.ndarray],
    ) -> StanceModel:
        """`stances`: each labelled comment's |-joined theme:stance values ("" = none)."""
        prompts = stance_prompts(codebook)
        self.centroids_: dict[str, tuple[list[str], np.ndarray]] = {}
        self.support_: dict[str, dict[str, int]] = {}
        if not prompts:
            return self
        prompt_vectors = _unit(np.asarray(embed([p for _, _, p in prompts]), dtype=np.float32))
        values = [set(split_labels(v)) for v in stances]
        E = _unit(np.asarray(embeddings, dtype=np.float32))
        for theme in codebook.themes:
            if not theme.stances:
                continue
            ids, rows, support = [], [], {}
            for s in theme.stances:
                j = next(i for i, (t, sid, _) in enumerate(prompts) if (t, sid) == (theme.id, s.id))
                members = [i for i, v in enumerate(values) if f"{theme.id}:{s.id}" in v]
                total = self.prompt_weight * prompt_vectors[j] + E[members].sum(axis=0)
                ids.append(s.id)
                rows.append(total)
                support[s.id] = len(members)
            self.centroids_[theme.id] = (ids, _unit(np.vstack(rows)))
            self.support_[theme.id] = support
        return self

    def predict(self, theme_id: str, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stance id, confidence) for each row of `embeddings`."""
        ids, centroids = self.centroids_[theme_id]
        sims = _unit(np.asarray(embeddings, dtype=np.float32)) @ centroids.T
        logits = self.temperature * (sims - sims.max(axis=1, keepdims=True))
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        return np.asarray(ids, dtype=object)[best], probs.max(axis=1)

    @property
    def themes(self) -> list[str]:
        return list(getattr(self, "centroids_", {}))
