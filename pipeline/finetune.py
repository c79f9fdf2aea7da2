"""Contrastive fine-tuning of the packaged sentence encoder on the hand labels.

Why: a frozen MiniLM places comments by topic in general English; the analyst's codebook cuts
them differently ("waiting for an appointment" and "waited hours in A&E" are one theme here).
SetFit showed that a few hundred labelled sentences are enough to bend the encoder towards the
labels' notion of similarity. This is its idea in a cheaper form for two CPU cores: each step
encodes one batch and pulls the cosine similarity of *every* pair in it towards the Jaccard
overlap of their theme sets, so one forward pass teaches ~500 pairs instead of 16. Positive and
negative pairs are weighted equally, since most pairs in a batch share no theme. Only the top
layers learn: the lower ones hold general English. Their output never changes, so it is computed
once per fit (`frozen_states`) and shared by every encoder the fit tunes; a step then runs only
the top layers, about twice as fast again (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np

log = logging.getLogger(__name__)

EPOCHS = 10  # passes over the labels, up to the step budget
LEARNING_RATE = 2e-4
BATCH = 32
MAX_TOKENS = 64
TRAIN_LAYERS = 2


def jaccard(Y: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard overlap of theme sets; two comments with no theme count as alike."""
    Y = np.asarray(Y, dtype=np.float32)
    inter = Y @ Y.T
    size = Y.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0).astype(np.float32)


def steps_for(n_labelled: int, max_steps: int) -> int:
    """EPOCHS passes over the labels, capped at `max_steps` (the cost does not grow past it)."""
    return min(max_steps, max(1, math.ceil(EPOCHS * n_labelled / BATCH)))


def _transformer(encoder):
    """The BERT-style model inside a SentenceTransformer, or None (e.g. a static model)."""
    model = getattr(encoder[0], "model", None) if len(encoder) else None
    return model if hasattr(getattr(model, "encoder", None), "layer") else None


def can_fine_tune(encoder) -> bool:
    """A BERT-style model followed by mean pooling: what `_top_vectors` reproduces."""
    if _transformer(encoder) is None or len(encoder) < 2:
        return False
    pooling = getattr(encoder[1], "get_config_dict", dict)()
    return pooling.get("pooling_mode") == "mean"


class TunedEncoder:
    """A packaged encoder whose top layers were tuned; pickles as the base name and those layers.

    Why not pickle the whole model: 90 MB per model directory, of which only the tuned layers
    (about 15 MB) differ from the packaged weights every install already has.
    """

    def __init__(self, base: str, encoder, train_layers: int | None) -> None:
        self.base, self.encoder, self.train_layers = base, encoder, train_layers

    def _tuned_names(self) -> list[str]:
        return [name for name, p in self.encoder.named_parameters() if p.requires_grad]

    def __getstate__(self) -> dict:
        names = set(self._tuned_names())
        weights = {
            name: tensor.detach().cpu().numpy().copy()
            for name, tensor in self.encoder.state_dict().items()
            if name in names
        }
        return {"base": self.base, "train_layers": self.train_layers, "weights": weights}

    def __setstate__(self, state: dict) -> None:
        import torch

        encoder = _packaged(state["base"])
        tensors = {k: torch.from_numpy(v) for k, v in state["weights"].items()}
        missing = set(tensors) - set(encoder.state_dict())
        if missing:
            raise ValueError(f"tuned weights do not fit {state['base']}: {sorted(missing)[:3]}")
        encoder.load_state_dict(tensors, strict=False)
        _freeze_below(encoder, state["train_layers"])
        self.base, self.encoder, self.train_layers = state["base"], encoder, state["train_layers"]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised float32 vectors; never cached, since the weights are this fit's own."""
        vectors = self.encoder.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.nan_to_num(np.asarray(vectors, dtype=np.float32))

    def encode_states(self, states, batch_size: int = 64) -> np.ndarray:
        """`encode` for texts whose `frozen_states` a fit already holds: only the top layers run."""
        import torch

        tuned = _tuned_count(self.encoder, self.train_layers)
        order = np.argsort([len(s) for s in states], kind="stable")  # little padding per batch
        out = np.zeros((len(states), self.encoder.get_embedding_dimension()), np.float32)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = _top_vectors(self.encoder, [states[i] for i in rows], tuned).numpy()
        return np.nan_to_num(out)


def _tuned_count(encoder, train_layers: int | None) -> int:
    """How many top layers learn: `train_layers`, or all of them (None); never the word embeddings."""
    layers = len(_transformer(encoder).encoder.layer)
    return layers if train_layers is None else max(1, min(train_layers, layers))


def _freeze_below(encoder, train_layers: int | None) -> None:
    """Stop gradients in the word embeddings and every layer below the tuned ones."""
    bert = _transformer(encoder)
    layers = bert.encoder.layer
    for module in [bert.embeddings, *layers[: len(layers) - _tuned_count(encoder, train_layers)]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def _packaged(base: str):
    """A private copy of the shared loaded encoder, reading MAX_TOKENS tokens."""
    from pipeline.embed import load_model

    encoder = copy.deepcopy(load_model(base))
    encoder.max_seq_length = MAX_TOKENS
    encoder.eval()
    return encoder


def frozen_states(base: str, texts: list[str], train_layers: int | None, batch_size: int = 64):
    """Each text's token states entering the first tuned layer (one tensor per text, no padding).

    They depend only on the packaged weights, so one fit computes them once for all its encoders.
    """
    import torch

    encoder = _packaged(base)
    bert = _transformer(encoder)
    first_tuned = len(bert.encoder.layer) - _tuned_count(encoder, train_layers)
    states = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            features = encoder.preprocess(list(texts[start : start + batch_size]))
            hidden = bert(
                input_ids=features["input_ids"],
                attention_mask=features["attention_mask"],
                token_type_ids=features.get("token_type_ids"),
                output_hidden_states=True,
            ).hidden_states[first_tuned]
            lengths = features["attention_mask"].sum(dim=1).tolist()
            states += [h[:length].clone() for h, length in zip(hidden, lengths, strict=True)]
    return states


def _top_vectors(encoder, states, tuned: int):
    """Mean-pooled, L2-normalised output of the top `tuned` layers for a batch of cached states."""
    import torch

    bert = _transformer(encoder)
    width = max(len(s) for s in states)
    hidden = torch.zeros(len(states), width, states[0].shape[1])
    mask = torch.zeros(len(states), width)
    for i, s in enumerate(states):
        hidden[i, : len(s)], mask[i, : len(s)] = s, 1.0
    additive = (1.0 - mask)[:, None, None, :] * torch.finfo(hidden.dtype).min
    for layer in bert.encoder.layer[len(bert.encoder.layer) - tuned :]:
        hidden = layer(hidden, attention_mask=additive)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    pooled = (hidden * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    return torch.nn.functional.normalize(pooled, dim=1)


def fine_tune(
    base: str,
    texts: list[str],
    Y: np.ndarray,
    steps: int,
    learning_rate: float = LEARNING_RATE,
    train_layers: int | None = TRAIN_LAYERS,
    seed: int = 42,
    progress: bool = True,
    states: list | None = None,
) -> TunedEncoder:
    """A tuned copy of the packaged encoder `base`; the shared loaded one is left untouched.

    `states`: the texts' `frozen_states`, when the caller already has them.
    """
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    tuned = _packaged(base)
    _freeze_below(tuned, train_layers)
    if states is None:
        states = frozen_states(base, texts, train_layers)
    top = _tuned_count(tuned, train_layers)
    tuned.train()  # dropout in the tuned layers
    optimiser = torch.optim.AdamW(
        [p for p in tuned.parameters() if p.requires_grad], lr=learning_rate
    )
    rng = np.random.default_rng(seed)
    n = len(states)
    batch = min(BATCH, n)
    order, at = rng.permutation(n), 0
    similar = torch.from_numpy(jaccard(Y))
    off_diagonal = ~torch.eye(batch, dtype=torch.bool)
    for _ in tqdm(range(steps), desc="fine-tuning encoder", unit="step", disable=not progress):
        if at + batch > n:
            order, at = rng.permutation(n), 0
        rows = order[at : at + batch]
        at += batch
        vectors = _top_vectors(tuned, [states[i] for i in rows], top)
        index = torch.from_numpy(rows)
        target = similar[index][:, index]
        error = (vectors @ vectors.T - target) ** 2
        loss = sum(
            error[mask].mean()
            for mask in ((target > 0) & off_diagonal, (target == 0) & off_diagonal)
            if mask.any()
        )
        if torch.is_tensor(loss):
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
    tuned.eval()
    return TunedEncoder(base, tuned, train_layers)
