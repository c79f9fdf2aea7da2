"""The Label Studio edge: push comments to label, pull the analysts' answers back.

Why it looks like this:
- The labelling interface is generated from the codebook, with theme *ids* as the stored values
  (`<Choice value="name" alias="id"/>`), so renaming a theme never orphans a label.
- Tasks are keyed by comment id (`data.id`): a re-push never duplicates a task, and comments that
  are already in the project or already labelled are never sent again.
- `labels/annotations.jsonl` is the append-only history of every answer pulled (each annotator,
  each edit, skips included); `labels/labelled.csv` is materialised from it (latest answer per
  comment wins), so relabelling in Label Studio changes the next model and nothing is ever lost.
- Everything that talks to the server runs before anything is written: a server that is down
  means one clear error and untouched files.
- The token comes from the environment or a file outside the repository and is never logged.

Naming shared with `pipeline.labelled.annotation_fields`: choices `themes`, stance choices
`stance_<theme_id>`, free-text `note`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.errors import InputError, YousaidError
from pipeline.labelled import (
    NOTE_FROM,
    STANCE_PREFIX,
    THEMES_FROM,
    annotation_fields,
    join_labels,
)
from pipeline.tables import write_atomic, write_table

log = logging.getLogger(__name__)

METADATA = ("route", "age_band", "gender", "ethnicity", "borough", "inner_outer")
METADATA_NAMES = {
    "route": "Route",
    "age_band": "Age",
    "gender": "Gender",
    "ethnicity": "Ethnicity",
    "borough": "Borough",
    "inner_outer": "Inner/outer",
}
TOKEN_VARS = ("LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN")
SAMPLING = {"uncertainty": "Uncertainty sampling", "sequential": "Sequential sampling"}
IMPORT_BATCH = 500
LS_SOURCE = "label_studio"


def config_file() -> Path:
    """~/.config/yousaid/label-studio.env (KEY=VALUE lines): outside any repository."""
    root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return root / "yousaid" / "label-studio.env"


class LabelStudioError(YousaidError):
    """The server is down, refuses the token, or rejects a request: one line, no traceback."""


# --- connection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    url: str
    token: str = field(repr=False)  # never in a repr, a log line or an error message


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def resolve_connection(
    default_url: str, url: str | None = None, env_file: Path | None = None
) -> Connection:
    """URL: explicit > LABEL_STUDIO_URL > config file > params. Token: environment > config file."""
    env_file = env_file or config_file()
    saved = read_env_file(env_file)
    token = next((os.environ[k] for k in TOKEN_VARS if os.environ.get(k)), None) or next(
        (saved[k] for k in TOKEN_VARS if saved.get(k)), None
    )
    if not token:
        raise LabelStudioError(
            f"no Label Studio token: set {' or '.join(TOKEN_VARS)} in the environment "
            f"or in {env_file}"
        )
    chosen = (
        url or os.environ.get("LABEL_STUDIO_URL") or saved.get("LABEL_STUDIO_URL") or default_url
    )
    return Connection(chosen.rstrip("/"), token)


def connect(conn: Connection, timeout: float = 60.0):
    """A checked client: the server answers /health and accepts the token, or a clear error."""
    import httpx
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    hint = "start it with `scripts/label-studio` (or set LABEL_STUDIO_URL)"
    try:
        r = httpx.get(f"{conn.url}/health", timeout=5.0)
        up = r.status_code == 200
    except httpx.HTTPError as exc:
        raise LabelStudioError(
            f"Label Studio is not answering at {conn.url} ({type(exc).__name__}); {hint}"
        ) from None
    if not up:
        raise LabelStudioError(
            f"Label Studio at {conn.url}/health answered {r.status_code}; {hint}"
        )
    client = LabelStudio(base_url=conn.url, api_key=conn.token, timeout=timeout)
    try:
        client.users.whoami()
    except ApiError as exc:
        raise LabelStudioError(
            f"Label Studio at {conn.url} refused the token (HTTP {exc.status_code}); "
            f"check {' / '.join(TOKEN_VARS)}"
        ) from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(f"Label Studio at {conn.url} failed: {type(exc).__name__}") from None
    return client


def _api(what: str, call, *args, **kwargs):
    """Run one SDK call; turn its errors into one line (status and the server's detail)."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        return call(*args, **kwargs)
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("validation_errors") or body.get("detail") or exc.body
        raise LabelStudioError(
            f"Label Studio refused to {what} (HTTP {exc.status_code}): {detail}"
        ) from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(
            f"Label Studio connection failed while trying to {what}: {type(exc).__name__}"
        ) from None


# --- the labelling interface ---------------------------------------------------------------


def metadata_columns(comments: pd.DataFrame, wanted: Sequence[str] = METADATA) -> list[str]:
    return [c for c in wanted if c in comments.columns]


def label_config(codebook: Codebook, metadata: Sequence[str] = ()) -> str:
    """Label Studio XML: multi-label themes (stored as ids), stances per theme, a note."""
    q = quoteattr
    lines = ["<View>"]
    if codebook.question:
        lines.append(f'  <Header value={q(codebook.question)} size="5"/>')
    if metadata:
        lines.append('  <View style="color: #555; font-size: 0.9em; margin-bottom: 0.5em">')
        lines.append('    <Text name="respondent" value="$respondent"/>')
        lines.append("  </View>")
    lines.append('  <Text name="text" value="$text"/>')
    lines.append('  <Header value="Themes" size="6"/>')
    lines.append(
        f'  <Choices name="{THEMES_FROM}" toName="text" choice="multiple" showInLine="false">'
    )
    for theme in codebook.themes:
        about = theme.description
        if theme.group and theme.group in codebook.by_id:
            about = f"Part of '{codebook.by_id[theme.group].name}'. {about}".strip()
        hint = f" hint={q(about)}" if about else ""
        lines.append(f"    <Choice value={q(theme.name)} alias={q(theme.id)}{hint}/>")
    lines.append("  </Choices>")
    for theme in codebook.themes:
        if not theme.stances:
            continue
        # The frontend compares the alias on some versions and the value on others: give both.
        when = theme.id if "," in theme.name else f"{theme.id},{theme.name}"
        lines.append(
            f'  <View visibleWhen="choice-selected" whenTagName="{THEMES_FROM}" '
            f"whenChoiceValue={q(when)}>"
        )
        lines.append(f'    <Header value={q(theme.name + ": stance")} size="6"/>')
        lines.append(
            f'    <Choices name="{STANCE_PREFIX}{theme.id}" toName="text" choice="single">'
        )
        for stance in theme.stances:
            lines.append(f"      <Choice value={q(stance.name)} alias={q(stance.id)}/>")
        lines.append("    </Choices>")
        lines.append("  </View>")
    lines.append('  <Header value="Note (optional)" size="6"/>')
    lines.append(
        f'  <TextArea name="{NOTE_FROM}" toName="text" rows="2" maxSubmissions="1" '
        'editable="true"/>'
    )
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def task_data(comments: pd.DataFrame, metadata: Sequence[str] = ()) -> list[dict[str, str]]:
    """One Label Studio task `data` per comment: id, text, each metadata field, a summary line."""
    out = []
    for row in comments.to_dict("records"):
        data = {"id": str(row["id"]), "text": _cell(row.get("text"))}
        shown = []
        for col in metadata:
            value = _cell(row.get(col))
            data[col] = value
            if value:
                shown.append(f"{METADATA_NAMES.get(col, col)}: {value}")
        if metadata:
            data["respondent"] = " · ".join(shown) or "(no respondent details)"
        out.append(data)
    return out


def predictions_from_coded(coded: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Pre-annotations from `yousaid code` output: predicted theme ids and a confidence score.

    The score is the model's confidence in its least certain theme decision (p for a theme it
    coded, 1-p for one it did not), so sorting tasks by score ascending puts the comments the
    model is least sure of first.
    """
    ids = [t for t in codebook.ids if f"prob_{t}" in coded.columns]
    if not ids:
        raise InputError("coded table", "no prob_<theme_id> columns for this codebook's themes")
    probs = coded[[f"prob_{t}" for t in ids]].to_numpy(dtype=float)
    if all(f"code_{t}" in coded.columns for t in ids):
        codes = coded[[f"code_{t}" for t in ids]].to_numpy(dtype=float) > 0.5
    else:
        codes = probs >= 0.5
    confidence = np.where(codes, probs, 1 - probs).min(axis=1)
    themes = [[t for t, c in zip(ids, row, strict=True) if c] for row in codes]
    return pd.DataFrame(
        {"themes": themes, "score": np.round(confidence, 4)},
        index=pd.Index(coded["id"].astype(str), name="id"),
    )


def prediction_result(themes: Sequence[str]) -> list[dict[str, Any]]:
    if not themes:
        return []
    return [
        {
            "from_name": THEMES_FROM,
            "to_name": "text",
            "type": "choices",
            "value": {"choices": list(themes)},
        }
    ]


# --- project and tasks ----------------------------------------------------------------------


@dataclass
class Project:
    id: int
    title: str
    created: bool
    model_version: str


def ensure_project(
    client, title: str, config: str, description: str = "", sampling: str = "uncertainty"
) -> Project:
    """Find the project by exact title or create it; bring its interface up to date."""
    found = [
        p
        for p in _api("list projects", lambda: list(client.projects.list(title=title)))
        if p.title == title
    ]
    if len(found) > 1:
        raise LabelStudioError(
            f"{len(found)} Label Studio projects are titled '{title}' (ids "
            f"{', '.join(str(p.id) for p in found)}); rename all but one or set label.project"
        )
    if not found:
        p = _api(
            "create the project",
            client.projects.create,
            title=title,
            label_config=config,
            description=description,
            enable_empty_annotation=True,
            show_skip_button=True,
            sampling=SAMPLING.get(sampling, SAMPLING["sequential"]),
        )
        log.info("created Label Studio project %d '%s'", p.id, title)
        return Project(p.id, title, True, "")
    p = _api("read the project", client.projects.get, found[0].id)
    if (p.label_config or "").strip() != config.strip():
        # Label Studio refuses a new interface that drops a theme id already used in annotations.
        _api(
            "update the labelling interface from the codebook",
            client.projects.update,
            p.id,
            label_config=config,
        )
        log.info("updated project %d's labelling interface from the codebook", p.id)
    return Project(p.id, title, False, p.model_version or "")


def project_tasks(client, project_id: int) -> pd.DataFrame:
    """Tasks already in the project: task_id, comment id, annotation counts, prediction versions."""
    rows = []
    fields = "id,data,total_annotations,cancelled_annotations,predictions_model_versions"
    tasks = _api(
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
                "annotations": int(t.total_annotations or 0),
                "cancelled": int(t.cancelled_annotations or 0),
                "model_versions": list(versions),
            }
        )
    return pd.DataFrame(
        rows, columns=["task_id", "comment_id", "annotations", "cancelled", "model_versions"]
    )


@dataclass
class PushResult:
    project_id: int
    project_created: bool
    tasks_created: int
    already_in_project: int
    predictions_imported: int
    model_version: str | None
    seconds: float
    comment_ids: list[str] = field(default_factory=list)


def push(
    client,
    project: Project,
    comments: pd.DataFrame,
    chosen_ids: Sequence[str],
    predictions: pd.DataFrame | None = None,
    model_version: str | None = None,
    metadata: Sequence[str] = (),
    existing: pd.DataFrame | None = None,
) -> PushResult:
    """Import the chosen comments as tasks (skipping any already there) with pre-annotations.

    Unannotated tasks already in the project get the new model's predictions too, so a push
    after retraining refreshes the suggestions and the order by score.
    """
    began = time.perf_counter()
    existing = project_tasks(client, project.id) if existing is None else existing
    in_project = set(existing["comment_id"])
    by_id = (
        comments.assign(id=comments["id"].astype(str))
        .drop_duplicates("id")
        .set_index("id", drop=False)
    )
    wanted = [str(i) for i in dict.fromkeys(map(str, chosen_ids))]
    missing = [i for i in wanted if i not in by_id.index]
    if missing:
        raise InputError(
            "comments", f"{len(missing)} chosen ids are not in the comments table: {missing[:5]}"
        )
    new = [i for i in wanted if i not in in_project]
    payload = task_data(by_id.loc[new], metadata)
    for start in range(0, len(payload), IMPORT_BATCH):
        batch = payload[start : start + IMPORT_BATCH]
        _api(
            "import tasks",
            client.projects.import_tasks,
            project.id,
            request=[{"data": d} for d in batch],
        )
    if new:
        existing = project_tasks(client, project.id)
    n_pred = 0
    if predictions is not None and model_version:
        todo = existing[
            (existing["annotations"] == 0)
            & existing["comment_id"].isin(predictions.index)
            & existing["model_versions"].map(lambda v: model_version not in v)
        ]
        request = [
            {
                "task": int(row.task_id),
                "result": prediction_result(predictions.at[row.comment_id, "themes"]),
                "score": float(predictions.at[row.comment_id, "score"]),
                "model_version": model_version,
            }
            for row in todo.itertuples()
        ]
        for start in range(0, len(request), IMPORT_BATCH):
            _api(
                "import predictions",
                client.projects.import_predictions,
                project.id,
                request=request[start : start + IMPORT_BATCH],
            )
        n_pred = len(request)
        if project.model_version != model_version:
            # Score filters and ordering only use predictions whose version is the project's.
            _api(
                "set the project's model version",
                client.projects.update,
                project.id,
                model_version=model_version,
            )
            project.model_version = model_version
    return PushResult(
        project_id=project.id,
        project_created=project.created,
        tasks_created=len(new),
        already_in_project=len(wanted) - len(new),
        predictions_imported=n_pred,
        model_version=model_version if predictions is not None else None,
        seconds=time.perf_counter() - began,
        comment_ids=new,
    )


def find_project(client, title: str) -> int:
    found = [
        p
        for p in _api("list projects", lambda: list(client.projects.list(title=title)))
        if p.title == title
    ]
    if not found:
        raise LabelStudioError(
            f"no Label Studio project titled '{title}': run `yousaid label push` first"
        )
    if len(found) > 1:
        raise LabelStudioError(f"{len(found)} Label Studio projects are titled '{title}'; keep one")
    return found[0].id


# --- pull: annotations history -------------------------------------------------------------


def export_tasks(client, project_id: int) -> list[dict[str, Any]]:
    """Every task with at least one annotation (skips included), as Label Studio exports it."""
    raw = _api(
        "export annotations",
        lambda: b"".join(client.projects.exports.download_sync(project_id, export_type="JSON")),
    )
    try:
        tasks = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LabelStudioError(f"Label Studio export was not JSON ({exc})") from None
    if not isinstance(tasks, list):
        raise LabelStudioError("Label Studio export was not a list of tasks")
    return tasks


def annotators(client) -> dict[int, str]:
    """User id -> email (the analyst's login), to name who gave each answer."""
    users = _api("list users", lambda: list(client.users.list()))
    return {u.id: (u.email or u.username or str(u.id)) for u in users}


RECORD_KEYS = (
    "comment_id",
    "themes",
    "stances",
    "note",
    "annotator",
    "annotator_id",
    "was_cancelled",
    "created_at",
    "updated_at",
    "lead_time",
    "task_id",
    "annotation_id",
    "project_id",
    "prediction_model_version",
)


def annotation_records(
    tasks: Iterable[dict[str, Any]], users: dict[int, str], project_id: int
) -> list[dict]:
    """One flat record per annotation: who said which themes and stances, when, on which comment.

    `was_cancelled` marks a skipped task (Label Studio stores a skip as a cancelled annotation).
    """
    records = []
    for task in tasks:
        comment_id = str((task.get("data") or {}).get("id", ""))
        if not comment_id:
            log.warning("task %s has no data.id: not a yousaid task, ignored", task.get("id"))
            continue
        for ann in task.get("annotations") or []:
            fields = annotation_fields(ann.get("result") or [])
            who = ann.get("completed_by")
            who_id = who.get("id") if isinstance(who, dict) else who
            records.append(
                {
                    "comment_id": comment_id,
                    "themes": list(fields["themes"]),
                    "stances": list(fields["stances"]),
                    "note": fields["note"],
                    "annotator": users.get(who_id, str(who_id)),
                    "annotator_id": who_id,
                    "was_cancelled": bool(ann.get("was_cancelled")),
                    "created_at": ann.get("created_at"),
                    "updated_at": ann.get("updated_at") or ann.get("created_at"),
                    "lead_time": ann.get("lead_time"),
                    "task_id": task.get("id"),
                    "annotation_id": ann.get("id"),
                    "project_id": project_id,
                    "prediction_model_version": (ann.get("prediction") or {}).get("model_version"),
                }
            )
    return records


def _fingerprint(record: dict) -> str:
    core = {k: record.get(k) for k in RECORD_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()


def read_annotations(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"not valid JSON ({exc.msg})", row=n) from None
    return out


def new_records(history: list[dict], records: list[dict], pulled_at: str) -> list[dict]:
    """Records not already in the history (same annotation, same content, same edit time)."""
    seen = {_fingerprint(r) for r in history}
    fresh = []
    for r in records:
        fp = _fingerprint(r)
        if fp not in seen:
            seen.add(fp)
            fresh.append({**r, "pulled_at": pulled_at})
    return fresh


def append_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Append by rewriting atomically: a crash never leaves half a line in the history."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    return write_atomic(path, lambda p: p.write_bytes(old + lines.encode("utf-8")))


# --- pull: labelled table and agreement ----------------------------------------------------


def current_answers(history: list[dict]) -> pd.DataFrame:
    """The latest version of every annotation, skips dropped: one row per (comment, annotator)."""
    cols = [
        "comment_id",
        "annotator",
        "themes",
        "stances",
        "note",
        "updated_at",
        "annotation_id",
        "was_cancelled",
    ]
    if not history:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(history)
    frame["_order"] = range(len(frame))
    frame = frame.sort_values(["updated_at", "_order"], kind="stable")
    frame = frame.drop_duplicates("annotation_id", keep="last")
    frame = frame[~frame["was_cancelled"].astype(bool)]
    # One answer per annotator per comment: their latest (an annotator may submit twice).
    frame = frame.drop_duplicates(["comment_id", "annotator"], keep="last")
    return frame[cols].reset_index(drop=True)


def _clean_themes(themes: list[str], codebook: Codebook, unknown: set[str]) -> list[str]:
    known = [t for t in themes if t in codebook.by_id]
    unknown.update(t for t in themes if t not in codebook.by_id)
    return codebook.with_parents(known)


def materialise(
    history: list[dict],
    codebook: Codebook,
    comments: pd.DataFrame,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """labels/labelled.csv: one row per labelled comment, the latest answer winning.

    Rows of an earlier labelled.csv that did not come from Label Studio (a seed set) are kept
    unless Label Studio has an answer for that comment.
    """
    answers = current_answers(history)
    unknown: set[str] = set()
    by_comment = (
        comments.assign(id=comments["id"].astype(str)).drop_duplicates("id").set_index("id")
    )
    meta_cols = [c for c in by_comment.columns if c not in ("text", "labels", "stance")]
    rows = []
    if len(answers):
        counts = answers.groupby("comment_id")["annotator"].nunique()
        latest = answers.sort_values("updated_at", kind="stable").drop_duplicates(
            "comment_id", keep="last"
        )
        for a in latest.itertuples():
            if a.comment_id not in by_comment.index:
                log.warning(
                    "comment %s is in Label Studio but not in the comments table: left out",
                    a.comment_id,
                )
                continue
            themes = _clean_themes(list(a.themes), codebook, unknown)
            stances = [s for s in a.stances if s.split(":", 1)[0] in themes]
            src = by_comment.loc[a.comment_id]
            rows.append(
                {
                    "id": a.comment_id,
                    "text": src.get("text", ""),
                    "labels": join_labels(themes),
                    "stance": join_labels(stances),
                    "note": a.note,
                    "annotator": a.annotator,
                    "annotated_at": a.updated_at,
                    "n_annotators": int(counts[a.comment_id]),
                    "source": LS_SOURCE,
                    **{c: src.get(c) for c in meta_cols},
                }
            )
    if unknown:
        log.warning(
            "theme ids no longer in the codebook were dropped: %s", ", ".join(sorted(unknown))
        )
    frame = pd.DataFrame(rows)
    if previous is not None and len(previous):
        prev = previous.copy()
        prev["id"] = prev["id"].astype(str)
        if "source" not in prev.columns:
            prev["source"] = "seed"
        prev["source"] = prev["source"].fillna("seed").replace("", "seed")
        keep = prev[(prev["source"] != LS_SOURCE) & ~prev["id"].isin(set(frame.get("id", [])))]
        if len(keep):
            frame = pd.concat([keep, frame], ignore_index=True)
    if frame.empty:
        return frame
    first = [
        "id",
        "text",
        "labels",
        "stance",
        "note",
        "annotator",
        "annotated_at",
        "n_annotators",
        "source",
    ]
    ordered = [c for c in first if c in frame.columns] + [
        c for c in frame.columns if c not in first
    ]
    return frame[ordered].sort_values("id", kind="stable").reset_index(drop=True)


def agreement(history: list[dict], codebook: Codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-theme Krippendorff's alpha over comments coded by two or more annotators, and the
    disagreements (theme, or stance where both coded the theme) comment by comment."""
    import krippendorff

    answers = current_answers(history)
    per_theme_cols = [
        "theme_id",
        "theme",
        "comments",
        "annotators",
        "coded_by_any",
        "percent_agreement",
        "alpha",
    ]
    dis_cols = ["comment_id", "theme_id", "kind", "said_yes", "said_no", "stances"]
    if answers.empty:
        return pd.DataFrame(columns=per_theme_cols), pd.DataFrame(columns=dis_cols)
    unknown: set[str] = set()
    answers["themes"] = answers["themes"].map(lambda t: _clean_themes(list(t), codebook, unknown))
    n_by_comment = answers.groupby("comment_id")["annotator"].nunique()
    multi = answers[answers["comment_id"].isin(n_by_comment[n_by_comment >= 2].index)]
    if multi.empty:
        return pd.DataFrame(columns=per_theme_cols), pd.DataFrame(columns=dis_cols)
    coders = sorted(multi["annotator"].unique())
    items = sorted(multi["comment_id"].unique())
    ci, ii = {c: k for k, c in enumerate(coders)}, {c: k for k, c in enumerate(items)}
    theme_rows, dis_rows = [], []
    for theme in codebook.themes:
        data = np.full((len(coders), len(items)), np.nan)
        for a in multi.itertuples():
            data[ci[a.annotator], ii[a.comment_id]] = 1.0 if theme.id in a.themes else 0.0
        coded = ~np.isnan(data)
        yes = np.nansum(data, axis=0)
        n = coded.sum(axis=0)
        agree = (yes == 0) | (yes == n)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            alpha = krippendorff.alpha(
                reliability_data=data, level_of_measurement="nominal", value_domain=[0.0, 1.0]
            )
        theme_rows.append(
            {
                "theme_id": theme.id,
                "theme": theme.name,
                "comments": len(items),
                "annotators": len(coders),
                "coded_by_any": int((yes > 0).sum()),
                "percent_agreement": round(float(agree.mean()), 4),
                "alpha": None if np.isnan(alpha) else round(float(alpha), 4),
            }
        )
        for j in np.flatnonzero(~agree):
            said_yes = [coders[i] for i in range(len(coders)) if data[i, j] == 1.0]
            said_no = [coders[i] for i in range(len(coders)) if data[i, j] == 0.0]
            dis_rows.append(
                {
                    "comment_id": items[j],
                    "theme_id": theme.id,
                    "kind": "theme",
                    "said_yes": join_labels(said_yes),
                    "said_no": join_labels(said_no),
                    "stances": "",
                }
            )
        if theme.stances:
            for comment_id, group in multi.groupby("comment_id"):
                both = group[[theme.id in t for t in group["themes"]]]
                if len(both) < 2:
                    continue
                given = {
                    a.annotator: next(
                        (s.split(":", 1)[1] for s in a.stances if s.startswith(theme.id + ":")), ""
                    )
                    for a in both.itertuples()
                }
                if len(set(given.values())) > 1:
                    dis_rows.append(
                        {
                            "comment_id": comment_id,
                            "theme_id": theme.id,
                            "kind": "stance",
                            "said_yes": join_labels(sorted(given)),
                            "said_no": "",
                            "stances": join_labels(
                                [f"{k}={v or '-'}" for k, v in sorted(given.items())]
                            ),
                        }
                    )
    return pd.DataFrame(theme_rows, columns=per_theme_cols), pd.DataFrame(
        dis_rows, columns=dis_cols
    )


@dataclass
class PullResult:
    project_id: int
    tasks_exported: int
    annotations: int
    skipped: int
    appended: int
    labelled: int
    double_coded: int
    agreement: pd.DataFrame
    disagreements: pd.DataFrame
    seconds: float
    written: dict[str, Path] = field(default_factory=dict)


def pull(
    client,
    title: str,
    codebook: Codebook,
    *,
    annotations_path: str | Path,
    labelled_path: str | Path,
    agreement_path: str | Path,
    disagreements_path: str | Path,
    comments: pd.DataFrame | None = None,
) -> PullResult:
    """Export, append new answers to the history, rewrite labelled.csv and the agreement tables.

    Every request is made before the first file is touched.
    """
    began = time.perf_counter()
    project_id = find_project(client, title)
    tasks = export_tasks(client, project_id)
    users = annotators(client)
    records = annotation_records(tasks, users, project_id)
    history = read_annotations(annotations_path)
    pulled_at = pd.Timestamp.now(tz="UTC").isoformat()
    fresh = new_records(history, records, pulled_at)
    full = history + fresh

    # Text and metadata: the comments table where it has the comment, else the task's own data.
    from_tasks = pd.DataFrame(
        [{k: v for k, v in (t.get("data") or {}).items() if k != "respondent"} for t in tasks]
    )
    source = from_tasks
    if comments is not None and len(comments):
        keep = [
            c for c in comments.columns if c in ("id", "text") or c in METADATA or c == "weight"
        ]
        table = comments[keep].assign(id=comments["id"].astype(str))
        source = pd.concat([table, from_tasks], ignore_index=True) if len(from_tasks) else table
    if "id" not in source.columns:
        source = pd.DataFrame(columns=["id", "text"])
    previous = None
    if Path(labelled_path).exists():
        previous = pd.read_csv(labelled_path, dtype=str, keep_default_na=False)
    labelled = materialise(full, codebook, source, previous)
    per_theme, disagreements = agreement(full, codebook)

    written: dict[str, Path] = {}
    if fresh:
        written["annotations"] = append_jsonl(annotations_path, fresh)
    if len(labelled):
        written["labelled"] = write_table(labelled, labelled_path)
    else:
        log.warning("no completed annotations yet: %s not written", labelled_path)
    written["agreement"] = write_table(per_theme, agreement_path)
    written["disagreements"] = write_table(disagreements, disagreements_path)
    answers = [r for r in records if not r["was_cancelled"]]
    return PullResult(
        project_id=project_id,
        tasks_exported=len(tasks),
        annotations=len(answers),
        skipped=len(records) - len(answers),
        appended=len(fresh),
        labelled=int((labelled.get("source", pd.Series(dtype=str)) == LS_SOURCE).sum())
        if len(labelled)
        else 0,
        double_coded=int(per_theme["comments"].iloc[0]) if len(per_theme) else 0,
        agreement=per_theme,
        disagreements=disagreements,
        seconds=time.perf_counter() - began,
        written=written,
    )


def agreement_summary(per_theme: pd.DataFrame, disagreements: pd.DataFrame) -> str:
    """A few lines for stderr: how many comments were double-coded and alpha per theme."""
    if per_theme.empty:
        return "agreement: no comment has answers from two or more annotators yet"
    lines = [
        f"agreement over {int(per_theme['comments'].iloc[0])} comments coded by 2+ of "
        f"{int(per_theme['annotators'].iloc[0])} annotators (Krippendorff's alpha, nominal):"
    ]
    for r in per_theme.itertuples():
        alpha = "  n/a" if r.alpha is None or pd.isna(r.alpha) else f"{r.alpha:5.2f}"
        lines.append(
            f"  {r.theme_id:<28} alpha {alpha}  agree {r.percent_agreement:6.1%}  "
            f"coded {r.coded_by_any}"
        )
    lines.append(f"  {len(disagreements)} disagreements listed")
    return "\n".join(lines)
