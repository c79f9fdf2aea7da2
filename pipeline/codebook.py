"""The analyst's codebook: themes with stable ids, descriptions, seeds, sub-themes and stances."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.errors import InputError

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Stance:
    id: str
    name: str


@dataclass(frozen=True)
class Theme:
    id: str
    name: str
    description: str = ""
    seeds: tuple[str, ...] = ()
    group: str | None = None  # parent theme id: coding this theme implies the parent
    stances: tuple[Stance, ...] = ()

    @property
    def prompt(self) -> str:
        """The text that stands for the theme before any labels exist (zero-shot)."""
        return f"{self.name}. {self.description} {'; '.join(self.seeds)}".strip()


@dataclass(frozen=True)
class Codebook:
    themes: tuple[Theme, ...]
    name: str = ""
    question: str = ""
    path: str = ""
    by_id: dict[str, Theme] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update({t.id: t for t in self.themes})

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]

    def with_parents(self, theme_ids: list[str]) -> list[str]:
        """Add parent themes implied by sub-themes, keeping codebook order."""
        wanted = set(theme_ids)
        for tid in theme_ids:
            parent = self.by_id[tid].group if tid in self.by_id else None
            while parent:
                wanted.add(parent)
                parent = self.by_id[parent].group
        return [t for t in self.ids if t in wanted]

    def fingerprint(self) -> str:
        """Identifies the set of theme ids (not names): a model is valid for any codebook with the same."""
        return hashlib.sha256("\n".join(sorted(self.ids)).encode()).hexdigest()[:16]


def load_codebook(path: str | Path) -> Codebook:
    """Read and validate a codebook.yaml; every problem names the theme it is in."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "codebook not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"not valid YAML ({exc})") from exc
    raw_themes = data.get("themes") if isinstance(data, dict) else None
    if not raw_themes or not isinstance(raw_themes, list):
        raise InputError(str(path), "expected a non-empty 'themes:' list")
    themes: list[Theme] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw_themes, start=1):
        where = f"theme {i}"
        if not isinstance(entry, dict) or "id" not in entry:
            raise InputError(str(path), f"{where}: each theme needs an 'id'")
        tid = str(entry["id"])
        if not _SLUG.match(tid):
            raise InputError(
                str(path), f"{where}: id '{tid}' must be a lower-case slug (a-z, 0-9, _)"
            )
        if tid in seen:
            raise InputError(str(path), f"{where}: id '{tid}' is repeated")
        seen.add(tid)
        stances = tuple(
            Stance(str(s["id"]), str(s.get("name", s["id"]))) for s in entry.get("stances") or []
        )
        themes.append(
            Theme(
                id=tid,
                name=str(entry.get("name", tid)),
                description=" ".join(str(entry.get("description", "")).split()),
                seeds=tuple(str(s) for s in entry.get("seeds") or []),
                group=entry.get("group"),
                stances=stances,
            )
        )
    for theme in themes:
        if theme.group is not None and theme.group not in seen:
            raise InputError(
                str(path), f"theme '{theme.id}': group '{theme.group}' is not a theme id"
            )
    return Codebook(
        themes=tuple(themes),
        name=str(data.get("name", "")),
        question=str(data.get("question", "")),
        path=str(path),
    )
