"""Which Label Studio project belongs to a question, found again by its stored id.

Why by id: a title is the analyst's to change (renaming the codebook renames the project) and
Label Studio caps it at 50 characters, so a title is a poor key. The project's id and the
server's URL live in a small JSON state file beside the question's labels
(`<question>/labels/label_studio.json`); a title is only used to adopt a project the first time.
Finding or creating a project happens under an exclusive lock beside that file, so two commands
started together cannot both create one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import InputError
from pipeline.labelled import DEFAULT_SAMPLE
from pipeline.labelling.client import LabelStudioError, api, api_or_none, server_url
from pipeline.tables import write_atomic

log = logging.getLogger(__name__)

TITLE_MAX = 50  # Label Studio: "title: Ensure this field has no more than 50 characters"
QUESTION_MAX = 20  # the question id's share of a title, so the consultation's name shows too
TITLE_SEP = " · "
ELLIPSIS = "…"
SAMPLING = {"uncertainty": "Uncertainty sampling", "sequential": "Sequential sampling"}
STATE_KEYS = ("project_id", "url", "title")
TASK_COLUMNS = [
    "task_id",
    "comment_id",
    "sample",
    "annotations",
    "cancelled",
    "model_versions",
    "data",
]


@dataclass
class Project:
    """A project as this run uses it; `state_path` also says where its push lock lives."""

    id: int
    title: str
    created: bool
    model_version: str
    state_path: Path | None = None
    url: str = ""


# --- titles -------------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with a visible "…" (never mid-word
    unless a single word is longer than half the room)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    room = limit - len(ELLIPSIS)
    head = text[: room + 1]  # one more: a space just after the cut is a clean boundary
    cut = head.rfind(" ")
    head = head[:cut] if cut >= room // 2 else text[:room]
    return head.rstrip(" ,.;:-–—·") + ELLIPSIS


def fit_title(title: str) -> str:
    """Any title made acceptable to Label Studio (whitespace folded, at most 50 characters)."""
    return shorten(title, TITLE_MAX) or "yousaid"


def project_title(name: str, question_id: str) -> str:
    """A readable project title of at most 50 characters: "<short name> · <question id>".

    The question id is kept (shortened only if very long) because it tells one question's
    project from another's; the consultation's name gives way first.
    """
    name, question = " ".join(str(name).split()), " ".join(str(question_id).split())
    if not question:
        return fit_title(name)
    if not name:
        return fit_title(question)
    question = shorten(question, QUESTION_MAX)
    room = TITLE_MAX - len(TITLE_SEP) - len(question)
    return f"{shorten(name, room)}{TITLE_SEP}{question}"


# --- state and lock -------------------------------------------------------------------------


def read_state(state_path: str | Path | None) -> dict[str, Any]:
    """The stored project state ({} when there is none yet)."""
    if state_path is None or not Path(state_path).exists():
        return {}
    try:
        state = json.loads(Path(state_path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            str(state_path), f"not valid JSON ({exc.msg}); delete it to find the project by title"
        ) from None
    if not isinstance(state, dict):
        raise InputError(str(state_path), "not a JSON object; delete it to find the project again")
    return state


def record_state(state_path: str | Path | None, project: Project) -> bool:
    """Store the project's id, server and title atomically; keep any other keys; write only
    when something changed (so a pull does not touch the file for nothing)."""
    if state_path is None:
        return False
    old = read_state(state_path)
    new = {**old, "project_id": project.id, "url": project.url, "title": project.title}
    if new == old:
        return False
    text = json.dumps(new, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    write_atomic(state_path, lambda p: p.write_text(text, encoding="utf-8"))
    return True


def record_audit_draw(state_path: str | Path | None, draw: dict[str, Any]) -> None:
    """Append one audit draw (when, how many, from how many, seed) to the state file: the
    population an audit sample was drawn from is part of what its estimate means."""
    if state_path is None:
        return
    old = read_state(state_path)
    new = {**old, "audit_draws": [*old.get("audit_draws", []), draw]}
    text = json.dumps(new, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    write_atomic(state_path, lambda p: p.write_text(text, encoding="utf-8"))


def lock_path(state_path: str | Path | None, key: str) -> Path:
    """label_studio.lock beside the state file; without one, a per-(server, project) file in
    the temp folder, which still serialises commands on this machine."""
    if state_path is not None:
        state_path = Path(state_path)
        return state_path.with_name(f"{state_path.stem}.lock")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"yousaid-label-studio-{digest}.lock"


@contextmanager
def project_lock(state_path: str | Path | None, key: str) -> Iterator[Path]:
    """An exclusive flock held for the block: between threads (each open() is its own lock
    holder) and processes alike. The OS drops it if the holder dies, so it never goes stale."""
    path = lock_path(state_path, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another yousaid command on this project (%s)", path)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- finding the project --------------------------------------------------------------------


def _stored_project(client: Any, state: dict[str, Any], url: str, state_path: Any) -> Any | None:
    """The project the state file names, if it is still on this server."""
    project_id = state.get("project_id")
    if not isinstance(project_id, int) or isinstance(project_id, bool):
        return None
    p = api_or_none("read the project", client.projects.get, project_id)
    if p is None:
        log.warning(
            "Label Studio project %d named in %s is gone from %s: finding it by title",
            project_id,
            state_path,
            url or "the server",
        )
        return None
    stored_url = str(state.get("url") or "").rstrip("/")
    if stored_url and url and stored_url != url and p.title != state.get("title"):
        # Ids are per server: on another server the same id is somebody else's project.
        log.warning(
            "%s names project %d on %s, not %s: finding the project by title",
            state_path,
            project_id,
            stored_url,
            url,
        )
        return None
    return p


def _by_title(client: Any, title: str) -> list[Any]:
    listed = api("list projects", lambda: list(client.projects.list(title=title)))
    return [p for p in listed if p.title == title]


def _adopt(client: Any, title: str, state_path: Any) -> Any | None:
    """The one existing project with exactly this title (None if none; an error if several)."""
    found = _by_title(client, title)
    if len(found) > 1:
        where = (
            f"write the right one's id as project_id in {state_path}"
            if state_path
            else "rename all but one"
        )
        raise LabelStudioError(
            f"{len(found)} Label Studio projects are titled '{title}' (ids "
            f"{', '.join(str(p.id) for p in found)}); {where}"
        )
    return api("read the project", client.projects.get, found[0].id) if found else None


def find_project(
    client: Any, *, state_path: str | Path | None = None, title: str | None = None
) -> Project:
    """The question's project for reading (pull): by stored id, else by exact title.

    Writes nothing; the caller records the state once its own requests have succeeded.
    """
    if state_path is None and not title:
        raise ValueError("find_project needs the state file or a title")
    url = server_url(client)
    p = _stored_project(client, read_state(state_path), url, state_path)
    if p is None and title:
        p = _adopt(client, fit_title(title), state_path)
    if p is None:
        named = f"titled '{fit_title(title)}'" if title else f"recorded in {state_path}"
        raise LabelStudioError(f"no Label Studio project {named}: run `yousaid label push` first")
    return Project(p.id, p.title, False, p.model_version or "", _path(state_path), url)


def _path(state_path: str | Path | None) -> Path | None:
    return None if state_path is None else Path(state_path)


def ensure_project(
    client: Any,
    title: str,
    config: str,
    description: str = "",
    sampling: str = "uncertainty",
    state_path: str | Path | None = None,
    instructions: str = "",
) -> Project:
    """Find the question's project (stored id, else the one project with this exact title) or
    create it; bring its title, description, instructions and interface up to date; record its
    id. Empty annotations are turned off and the instructions shown before labelling.

    A renamed codebook renames the project rather than orphaning it. The title is cut to
    Label Studio's 50 characters.
    """
    title = fit_title(title)
    url = server_url(client)
    with project_lock(state_path, f"{url} project {title}"):
        p = _stored_project(client, read_state(state_path), url, state_path)
        if p is None:
            p = _adopt(client, title, state_path)
        if p is None:
            p = api(
                "create the project",
                client.projects.create,
                title=title,
                label_config=config,
                description=description,
                expert_instruction=instructions,
                show_instruction=bool(instructions),
                enable_empty_annotation=False,
                show_skip_button=True,
                sampling=SAMPLING.get(sampling, SAMPLING["sequential"]),
            )
            log.info("created Label Studio project %d '%s'", p.id, title)
            project = Project(p.id, title, True, "", _path(state_path), url)
        else:
            _update(client, p, title, config, description, instructions)
            project = Project(p.id, title, False, p.model_version or "", _path(state_path), url)
        record_state(state_path, project)
    return project


def _update(
    client: Any, p: Any, title: str, config: str, description: str, instructions: str = ""
) -> None:
    """Bring an existing project's title, description, instructions and interface in line with
    the codebook; turn empty annotations off in projects made before they were."""
    renamed: dict[str, Any] = {}
    if p.title != title:
        renamed["title"] = title
    if description and (p.description or "") != description:
        renamed["description"] = description
    if instructions and (p.expert_instruction or "") != instructions:
        renamed["expert_instruction"] = instructions
    if instructions and not p.show_instruction:
        renamed["show_instruction"] = True
    if p.enable_empty_annotation is not False:
        renamed["enable_empty_annotation"] = False
    if renamed:
        api("update the project", client.projects.update, p.id, **renamed)
        log.info("project %d: updated %s", p.id, ", ".join(renamed))
    if (p.label_config or "").strip() != config.strip():
        # Label Studio refuses a new interface that drops a choice some answers still use
        # on some versions; its message then says which.
        api(
            "update the labelling interface from the codebook",
            client.projects.update,
            p.id,
            label_config=config,
        )
        log.info("updated project %d's labelling interface from the codebook", p.id)


def project_tasks(client: Any, project_id: int) -> pd.DataFrame:
    """Tasks already in the project: task_id, comment id, stream (`sample`; train where the
    task does not say), annotation counts, prediction versions and the task data; the server's
    view, which is what decides what a push still has to send."""
    rows = []
    fields = "id,data,total_annotations,cancelled_annotations,predictions_model_versions"
    tasks = api(
        "list tasks",
        lambda: list(client.tasks.list(project=project_id, page_size=1000, include=fields)),
    )
    for t in tasks:
        data = t.data or {}
        versions = t.predictions_model_versions or []
        if isinstance(versions, str):  # the API joins them: "m-1, m-2"
            versions = [v.strip() for v in versions.split(",") if v.strip()]
        rows.append(
            {
                "task_id": t.id,
                "comment_id": str(data.get("id", "")),
                "sample": str(data.get("sample") or DEFAULT_SAMPLE),
                "annotations": int(t.total_annotations or 0),
                "cancelled": int(t.cancelled_annotations or 0),
                "model_versions": list(versions),
                "data": dict(data),
            }
        )
    return pd.DataFrame(rows, columns=TASK_COLUMNS)
