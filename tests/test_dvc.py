"""Real DVC, no remote: `dvc repro ingest` in a copy of the project runs the stage through the
`yousaid` command, locks it, and a second repro has nothing to do. Part of the normal suite
(about 10 s): DVC is a real dependency, so its pipeline is tested like the rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def dvc_exe() -> str:
    found = BIN / "dvc"
    if found.exists():
        return str(found)
    which = shutil.which("dvc")
    if which is None:
        pytest.fail("dvc is not installed: it is a dependency of the project (pyproject.toml)")
    return which


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of what the ingest stage needs: dvc.yaml, params.yaml, the demo, labels, code."""
    work = tmp_path_factory.mktemp("dvc_project")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(ROOT / name, work / name)
    shutil.copytree(ROOT / "data" / "demo", work / "data" / "demo")
    shutil.copytree(ROOT / "labels", work / "labels")
    # the stage's code dependencies, so DVC can hash them
    shutil.copytree(
        ROOT / "pipeline", work / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    return work


def dvc(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(work / ".dvc-site-cache"),
    }
    proc = subprocess.run(
        [dvc_exe(), *args], cwd=work, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def reproduced(project) -> subprocess.CompletedProcess:
    dvc(project, "init", "--no-scm", "-q")
    return dvc(project, "repro", "ingest")


def test_repro_ingest_writes_comments(project, reproduced):
    out = project / "data" / "interim" / "comments.parquet"
    assert out.exists()
    frame = pd.read_parquet(out)
    assert len(frame) == 570
    assert frame["id"].is_unique
    assert {"source_file", "source_row", "text", "text_original", "substantive"} <= set(
        frame.columns
    )
    rejected = project / "data" / "interim" / "rejected.csv"
    assert rejected.exists()
    assert "Running stage 'ingest'" in reproduced.stdout
    # the stage ran the real command, which printed its summary
    assert "rows read 570" in reproduced.stdout + reproduced.stderr


def test_lock_names_the_ingest_stage(project, reproduced):
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    stage = lock["stages"]["ingest"]
    assert stage["cmd"] == "yousaid ingest"
    assert {d["path"] for d in stage["deps"]} >= {"data/demo/comments.csv", "pipeline/ingest.py"}
    outs = {o["path"]: o for o in stage["outs"]}
    assert set(outs) == {"data/interim/comments.parquet", "data/interim/rejected.csv"}
    size = (project / "data" / "interim" / "comments.parquet").stat().st_size
    assert outs["data/interim/comments.parquet"]["size"] == size
    assert "ingest" in stage["params"]["params.yaml"]
    assert set(lock["stages"]) == {"ingest"}  # nothing else ran


def test_second_repro_does_nothing(project, reproduced):
    out = project / "data" / "interim" / "comments.parquet"
    before = out.stat().st_mtime_ns
    status = dvc(project, "status", "ingest", "--json")
    assert json.loads(status.stdout or "{}") == {}
    again = dvc(project, "repro", "ingest")
    assert "Stage 'ingest' didn't change, skipping" in again.stdout
    assert "Running stage" not in again.stdout
    assert out.stat().st_mtime_ns == before


def test_changed_param_reruns(project, reproduced):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"]["extra_non_answers"] = ["see my previous answer"]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(dvc(project, "status", "ingest", "--json").stdout)
    assert "ingest" in status
    rerun = dvc(project, "repro", "ingest")
    assert "Running stage 'ingest'" in rerun.stdout
    assert json.loads(dvc(project, "status", "ingest", "--json").stdout or "{}") == {}
