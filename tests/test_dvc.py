"""Real DVC, no remote: `dvc repro ingest` in a copy of the project runs the stage for every
question of the demo workspace through the `yousaid` command, locks it, and a second repro has
nothing to do. Part of the normal suite (about 15 s): DVC is a real dependency, so its pipeline
is tested like the rest. The dvc.yaml itself is written from the stage registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import DEMO, copy_workspace

from pipeline.dvcfile import render
from pipeline.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
WS = "examples/policing"


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
    """The repo's dvc.yaml and a copy of the demo workspace's analyst files."""
    work = tmp_path_factory.mktemp("dvc_project")
    shutil.copy2(ROOT / "dvc.yaml", work / "dvc.yaml")
    copy_workspace(DEMO, work / WS)
    return work


def test_dvc_yaml_is_written_from_the_stage_registry():
    assert (ROOT / "dvc.yaml").read_text(encoding="utf-8") == render(DEMO, WS)
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == [s.name for s in STAGES]
    assert all(s["foreach"] == "${questions}" for s in stages.values())


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


def test_repro_ingest_writes_comments_for_every_question(project, reproduced):
    for question in ("missing", "feel_safer"):
        out = project / WS / question / "data" / "interim" / "comments.parquet"
        frame = pd.read_parquet(out)
        assert len(frame) == 570  # every respondent, answered or not
        assert frame["id"].is_unique
        assert {"source_file", "source_row", "text", "text_original", "substantive"} <= set(
            frame.columns
        )
        assert (out.parent / "rejected.csv").exists()
    assert "Running stage 'ingest@0'" in reproduced.stdout
    assert "Running stage 'ingest@1'" in reproduced.stdout
    # the stage ran the real command, which printed its summary
    assert "[missing] rows read 570" in reproduced.stdout + reproduced.stderr


def test_lock_names_the_ingest_stages(project, reproduced):
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    stage = lock["stages"]["ingest@1"]
    assert stage["cmd"] == "yousaid ingest --workspace . --question feel_safer"
    assert {d["path"] for d in stage["deps"]} == {"export/comments.csv"}
    outs = {o["path"]: o for o in stage["outs"]}
    comments = "feel_safer/data/interim/comments.parquet"
    assert set(outs) == {comments, "feel_safer/data/interim/rejected.csv"}
    assert outs[comments]["size"] == (project / WS / comments).stat().st_size
    assert "settings" in stage["params"]["consultation.yaml"]
    assert set(lock["stages"]) == {"ingest@0", "ingest@1"}  # nothing else ran


def test_second_repro_does_nothing(project, reproduced):
    out = project / WS / "missing" / "data" / "interim" / "comments.parquet"
    before = out.stat().st_mtime_ns
    status = dvc(project, "status", "ingest", "--json")
    assert json.loads(status.stdout or "{}") == {}
    again = dvc(project, "repro", "ingest")
    assert "didn't change, skipping" in again.stdout
    assert "Running stage" not in again.stdout
    assert out.stat().st_mtime_ns == before


def test_changed_setting_reruns(project, reproduced):
    path = project / WS / "consultation.yaml"
    config = yaml.safe_load(path.read_text())
    config["settings"]["ingest"] = {"extra_non_answers": ["see my previous answer"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    status = json.loads(dvc(project, "status", "ingest", "--json").stdout)
    assert "ingest@0" in status
    rerun = dvc(project, "repro", "ingest")
    assert "Running stage 'ingest@0'" in rerun.stdout
    assert json.loads(dvc(project, "status", "ingest", "--json").stdout or "{}") == {}
