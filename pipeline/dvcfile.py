"""dvc.yaml written from the stage registry, so `dvc repro` and `yousaid run` cannot drift apart.

Every stage is a `foreach` over the questions of consultation.yaml (read through DVC's `vars`),
so adding a question there adds its stages without touching dvc.yaml.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.stages import STAGES, Stage
from pipeline.tables import write_atomic
from pipeline.workspace import CONFIG, LAYOUT, load_workspace

HEADER = (
    "# Written by `yousaid dvc` from the stage registry (pipeline/stages): each stage runs for\n"
    "# every question listed in consultation.yaml. Regenerate it rather than editing it.\n"
)


def _files(stage: Stage, keys: tuple[str, ...], inputs: list[str]) -> list[str]:
    out: list[str] = []
    for key in keys:
        out += inputs if key == "export" else [f"${{item.id}}/{LAYOUT[key]}"]
    return out


def dvc_stages(wdir: str, inputs: list[str]) -> dict:
    """The dvc.yaml mapping for a workspace at `wdir` (relative to the dvc.yaml's folder)."""
    prefix = "" if wdir == "." else f"{wdir}/"
    stages = {}
    for stage in STAGES:
        stages[stage.name] = {
            "foreach": "${questions}",
            "do": {
                "wdir": wdir,
                "cmd": f"yousaid {stage.name} --workspace . --question ${{item.id}}",
                "deps": _files(stage, stage.deps, inputs),
                "params": [{CONFIG: list(stage.params)}],
                "outs": _files(stage, stage.outs, inputs),
            },
        }
    return {"vars": [f"{prefix}{CONFIG}:questions"], "stages": stages}


def render(workspace: Path, wdir: str) -> str:
    ws = load_workspace(workspace)
    body = dvc_stages(wdir, list(ws.config.source.files))
    return HEADER + yaml.safe_dump(body, sort_keys=False, width=100)


def write_dvc_yaml(path: Path, wdir: str) -> Path:
    """Write dvc.yaml at `path` for the workspace at `path.parent / wdir`."""
    text = render(path.parent / wdir, wdir)
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
