"""`yousaid codebook promote CLUSTER`: an emerging theme from the report becomes a codebook theme.

The entry is appended to codebook.yaml as text, so the analyst's comments, order and layout stay
as they were; the result is loaded back before it is written, so a codebook whose `themes:` list
is not the last block fails with a message instead of being corrupted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from pipeline.codebook import load_codebook
from pipeline.errors import NotReady, YousaidError
from pipeline.report.keypoints import slug_of
from pipeline.stages.base import Outcome, command
from pipeline.tables import write_atomic
from pipeline.workspace import REPORT_FILES, Question, Workspace


def theme_entry(cluster: dict, theme_id: str, indent: str = "") -> str:
    """The YAML text of a new theme from an emerging cluster (emerging.json record)."""
    phrases = [str(p) for p in cluster.get("keyphrases", [])]
    label = str(cluster.get("label") or theme_id.replace("_", " "))
    name = label.replace(";", " and")
    body = {
        "id": theme_id,
        "name": name[0].upper() + name[1:],
        "description": (
            f"DRAFT from emerging cluster {cluster['cluster']} ({cluster.get('size', '?')} "
            f"comments outside the codebook): comments about {', '.join(phrases) or label}. "
            "Rewrite this to say what belongs here and what does not."
        ),
        "seeds": phrases,
    }
    text = yaml.safe_dump([body], sort_keys=False, allow_unicode=True, width=100)
    return "".join(indent + line for line in text.splitlines(keepends=True))


def append_theme(text: str, cluster: dict, existing: set[str]) -> tuple[str, str]:
    """(new codebook text, new theme id): the entry appended after the last theme."""
    theme_id = slug_of(str(cluster.get("label", "")))
    if theme_id in existing:
        raise YousaidError(
            f"theme id '{theme_id}' is already in the codebook; rename that theme's id or edit "
            "the codebook by hand"
        )
    items = re.findall(r"^([ \t]*)- id:", text, flags=re.MULTILINE)
    indent = items[-1] if items else ""
    head = text if text.endswith("\n") else text + "\n"
    return head + theme_entry(cluster, theme_id, indent), theme_id


def read_emerging(path: Path, cluster: int) -> dict:
    if not path.exists():
        raise NotReady(f"{path}: no emerging themes yet; run `yousaid report` first")
    for record in json.loads(path.read_text(encoding="utf-8")):
        if int(record["cluster"]) == cluster:
            return record
    raise YousaidError(f"{path}: no emerging cluster {cluster}")


def promote(ws: Workspace, q: Question, cluster: int) -> Outcome:
    """Add emerging cluster `cluster` of the last report to the question's codebook."""
    paths = ws.paths(q)
    record = read_emerging(paths.reports / REPORT_FILES["emerging"], cluster)
    book = load_codebook(paths.codebook)
    original = paths.codebook.read_text(encoding="utf-8")
    text, theme_id = append_theme(original, record, set(book.ids))
    before = len(book.themes)
    write_atomic(paths.codebook, lambda p: p.write_text(text, encoding="utf-8"))
    try:
        after = load_codebook(paths.codebook)
    except YousaidError:
        after = None
    if after is None or len(after.themes) != before + 1:
        write_atomic(paths.codebook, lambda p: p.write_text(original, encoding="utf-8"))
        raise YousaidError(
            f"{paths.codebook}: could not append the theme (is `themes:` the last block?); "
            "file left as it was"
        )
    return Outcome(
        {"codebook": paths.codebook},
        f"theme '{theme_id}' added to {paths.codebook} (a draft: check its name, description "
        f"and seeds); label it: `{command('label push', ws, q)}`",
    )
