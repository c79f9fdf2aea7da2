"""One stage's output files as one recognisable set: a manifest written before and after them.

A stage that writes several files (`code`: coded.parquet and coded.csv; `report`: four files)
can be killed between two renames, leaving files from two runs side by side. `file_set` writes
the manifest first as "incomplete", then the files, then the manifest again with each file's
sha256, the model version, the stage and the time. `check_set` refuses a set that is incomplete
or whose files no longer match their hashes, naming the files and the command to rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipeline.errors import YousaidError
from pipeline.tables import write_atomic

CONFIG_NAME = "consultation.yaml"  # how a workspace root is recognised
REPORT_MANIFEST = "manifest.json"


def coded_manifest(coded: str | Path) -> Path:
    """`coded.manifest.json` beside `coded.parquet` (and `coded.csv`)."""
    return Path(coded).with_suffix(".manifest.json")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rerun_hint(stage: str, where: str | Path) -> str:
    """`yousaid STAGE --workspace W --question Q` for a file inside a question's folder."""
    where = Path(where).resolve()
    for root in where.parents:
        if (root / CONFIG_NAME).is_file():
            question = where.relative_to(root).parts[0]
            return (
                f"yousaid {stage} --workspace {shlex.quote(str(root))} "
                f"--question {shlex.quote(question)}"
            )
    return f"yousaid {stage}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write(manifest: Path, body: dict) -> None:
    text = json.dumps(body, indent=2) + "\n"
    write_atomic(manifest, lambda p: p.write_text(text, encoding="utf-8"))


def _name(manifest: Path, path: Path) -> str:
    """A file's name as the manifest records it: relative to the manifest's folder."""
    return Path(os.path.relpath(Path(path).resolve(), manifest.parent.resolve())).as_posix()


@contextmanager
def file_set(
    manifest: str | Path,
    stage: str,
    files: Sequence[Path],
    *,
    model_version: str | None,
    sources: Sequence[Path] = (),
) -> Iterator[None]:
    """Write `files` inside the block; the manifest says "incomplete" until the block ends.

    `sources` are inputs whose hashes are recorded too (which coded set a report came from).
    Only names relative to the manifest are stored: a published reports/ folder shows no
    local paths (the command to rerun is worked out when a set is refused).
    """
    manifest = Path(manifest)
    body = {
        "stage": stage,
        "complete": False,
        "model_version": model_version,
        "started": _now(),
        "files": {_name(manifest, f): None for f in files},
    }
    _write(manifest, body)
    yield
    body["complete"] = True
    body["written"] = _now()
    body["files"] = {
        _name(manifest, f): {"sha256": sha256(Path(f)), "bytes": Path(f).stat().st_size}
        for f in files
    }
    body["sources"] = {_name(manifest, s): sha256(Path(s)) for s in sources if Path(s).exists()}
    _write(manifest, body)


def check_set(manifest: str | Path) -> dict | None:
    """The manifest if its set is whole; None if there is none; else a one-line YousaidError."""
    manifest = Path(manifest)
    if not manifest.exists():
        return None
    try:
        body = json.loads(manifest.read_text(encoding="utf-8"))
        files: Mapping = body["files"]
        stage = str(body["stage"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise YousaidError(
            f"{manifest}: not a readable manifest ({exc}); rerun the stage that wrote "
            f"{manifest.parent}"
        ) from None
    rerun = rerun_hint(stage, manifest)
    where = manifest.parent
    if not body.get("complete"):
        raise YousaidError(
            f"{where}: {', '.join(files)} may be a mix of two runs: `yousaid {stage}` started "
            f"{body.get('started', '?')} and did not finish; rerun `{rerun}`"
        )
    bad = []
    for name, entry in files.items():
        path = where / name
        if not path.exists():
            bad.append(f"{name} (missing)")
        elif path.stat().st_size != entry["bytes"] or sha256(path) != entry["sha256"]:
            bad.append(f"{name} (changed)")
    if bad:
        raise YousaidError(
            f"{where}: {', '.join(bad)} no longer match the set `yousaid {stage}` wrote at "
            f"{body.get('written', '?')} (model {body.get('model_version')}, {manifest.name}): "
            f"an interrupted run or a file edited since; rerun `{rerun}`"
        )
    return body


def _versions(path: Path) -> set[str]:
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path, columns=["model_version"])
    else:
        frame = pd.read_csv(path, usecols=["model_version"], dtype=str, keep_default_na=False)
    return set(frame["model_version"].astype(str))


def check_coded(coded: str | Path) -> None:
    """Refuse coded.parquet unless it and coded.csv are one set from one `yousaid code` run.

    Without a manifest (written before manifests existed, or by hand), the two tables must at
    least carry the same model version.
    """
    coded = Path(coded)
    manifest = coded_manifest(coded)
    body = check_set(manifest)
    if body is not None:
        if coded.name not in body["files"]:
            raise YousaidError(
                f"{manifest} does not list {coded.name}; rerun `{rerun_hint('code', coded)}`"
            )
        return
    csv = coded.with_suffix(".csv")
    if not (coded.exists() and csv.exists()):
        return
    try:
        ours, theirs = _versions(coded), _versions(csv)
    except (ValueError, KeyError, OSError):
        return  # no model_version column to compare: nothing to say about the set
    if ours != theirs:
        raise YousaidError(
            f"{coded.parent}: {coded.name} (model {', '.join(sorted(ours))}) and {csv.name} "
            f"(model {', '.join(sorted(theirs))}) are from different runs and there is no "
            f"{manifest.name}; rerun `{rerun_hint('code', coded)}`"
        )
