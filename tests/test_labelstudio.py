"""Label Studio round trip against a real server: push, annotate as analysts, pull, relabel,
re-push, agreement, and a server that is down.

One server per module, started by scripts/label-studio on a free port from a copy of a migrated
data dir cached under .cache/ (only the first run pays Label Studio's ~1 minute of migrations),
stopped by its PID. The tests run in file order and build on each other's state.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import cli
from pipeline import labelling as ls
from pipeline.codebook import load_codebook
from pipeline.errors import InputError
from pipeline.labelled import read_labelled, stream_summary, suggestion_changed

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "label-studio"
LS_BIN = REPO / ".venv-ls" / "bin" / "label-studio"
CODEBOOK = REPO / "examples" / "policing" / "missing" / "codebook.yaml"
TOKEN = "yousaid-test-token-5f0c2b9e7d"
CREDENTIALS = {
    "LABEL_STUDIO_USERNAME": "lead.analyst@example.org",
    "LABEL_STUDIO_PASSWORD": "not-a-real-password-42",
    "LABEL_STUDIO_USER_TOKEN": TOKEN,
}


def _script_module():
    loader = importlib.machinery.SourceFileLoader("ls_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("ls_script", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


script = _script_module()
# Keyed by version and credentials: the first user and token are baked into the migrated template.
_KEY = hashlib.sha256(json.dumps(CREDENTIALS, sort_keys=True).encode()).hexdigest()[:8]
TEMPLATE = REPO / ".cache" / f"ls-template-{script.LS_VERSION}-{_KEY}"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(CREDENTIALS)
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # never the developer's own credentials file
    return env


def _start(data_dir: Path, tmp: Path, port: str = "0") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--port", port, "--data-dir", str(data_dir)],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=400,
    )


def _kill(pid_file: Path) -> None:
    """Teardown by PID: the server runs in its own process group, started by the fixture."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    script.stop_pid(pid)
    pid_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def ls_template(tmp_path_factory) -> Path:
    """A data dir with migrations run and the first user and token created, built once."""
    if not LS_BIN.exists():
        pytest.skip("Label Studio is not installed: run `make .venv-ls/.installed`")
    if (TEMPLATE / ".ready").exists():
        return TEMPLATE
    building = TEMPLATE.with_name(f"{TEMPLATE.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    tmp = tmp_path_factory.mktemp("ls-template")
    began = time.monotonic()
    started = _start(building, tmp)
    try:
        assert started.returncode == 0, started.stderr
    finally:
        _kill(building / "label-studio.pid")
    for name in ("label-studio.log", "label-studio.pid"):
        (building / name).unlink(missing_ok=True)
    (building / ".ready").write_text(f"built in {time.monotonic() - began:.0f} s\n")
    try:
        building.rename(TEMPLATE)
    except OSError:  # another run finished first
        shutil.rmtree(building, ignore_errors=True)
    return TEMPLATE


@dataclass
class Server:
    url: str
    pid: int
    data_dir: Path
    port: int


@pytest.fixture(scope="module")
def server(ls_template, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ls-server")
    data_dir = tmp / "data"
    shutil.copytree(ls_template, data_dir)
    started = _start(data_dir, tmp)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    pid, port = (data_dir / "label-studio.pid").read_text().split()
    assert url == f"http://127.0.0.1:{port}"
    yield Server(url, int(pid), data_dir, int(port))
    _kill(data_dir / "label-studio.pid")
    assert not script.pid_alive(int(pid))


@pytest.fixture(scope="module")
def client(server):
    return ls.connect(ls.Connection(server.url, TOKEN))


# --- data ------------------------------------------------------------------------------------

TEXTS = [
    "Golders Green front counter closed and now the nearest station is miles away.",
    "More bobbies on the beat please, I never see a police officer where I live.",
    "Officers who are racist or misogynist should be sacked, not moved to another team.",
    "Cannabis smoke everywhere in the park and dealers on every corner. Arrest them.",
    "Legalise cannabis and stop wasting police time on people smoking a joint.",
    "My bike was stolen twice this year and nobody even investigated it.",
    "Boy racers doing 60 on our road every night, someone will be killed.",
    "Women don't feel safe walking home at night. Street harassment is constant.",
    "Youth clubs have all closed, kids have nowhere to go, fund the charities.",
    "Nothing about older and disabled people who are scared to go out.",
    "Teenagers hanging around the shops intimidating people, fly-tipping, graffiti.",
    "Poverty and lack of opportunity are the root causes, not policing.",
    "The police should come to ward panels and actually listen to residents.",
    "Phone snatching on mopeds is out of control in the West End.",
    "Domestic abuse victims need better support and faster prosecutions.",
]
ROUTES = ["talk_london", "poll_representative", "poll_boost"]
BOROUGHS = ["Barnet", "Hackney", "Newham", "Croydon", "Ealing"]


@pytest.fixture(scope="module")
def comments() -> pd.DataFrame:
    rows = []
    for i in range(30):
        rows.append(
            {
                "id": f"T-{i:03d}",
                "text": TEXTS[i % len(TEXTS)] + ("" if i < len(TEXTS) else " (again)"),
                "route": ROUTES[i % 3],
                "age_band": ["16-24", "25-34", "35-44", "45-54", "55-64", "65+"][i % 6],
                "gender": ["Female", "Male"][i % 2],
                "ethnicity": ["White British", "Black", "Asian", "Mixed"][i % 4],
                "borough": BOROUGHS[i % 5],
                "inner_outer": ["Inner", "Outer"][i % 2],
                "weight": float("nan") if i % 3 == 0 else 1.0 + i / 100,
                "substantive": True,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


def predictions_for(comments: pd.DataFrame, codebook) -> pd.DataFrame:
    """A fake coded.parquet: theme i%12 gets a high probability for comment i."""
    coded = comments[["id"]].copy()
    for j, tid in enumerate(codebook.ids):
        probs = [
            0.9 if i % len(codebook.ids) == j else 0.05 + (i % 7) / 100
            for i in range(len(comments))
        ]
        coded[f"prob_{tid}"] = probs
        coded[f"code_{tid}"] = [int(p >= 0.5) for p in probs]
    coded["model_version"] = "m-1"
    return coded


def result(themes, stance=None, note=None):
    out = [
        {
            "from_name": "themes",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": list(themes)},
        }
    ]
    if stance:
        out.append(
            {
                "from_name": "stance_drugs",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [stance]},
            }
        )
    if note:
        out.append(
            {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": [note]}}
        )
    return out


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """What the ordered tests share: paths of the label files and ids of tasks and annotations."""
    root = tmp_path_factory.mktemp("labels")
    return {
        "paths": {
            "annotations_path": root / "annotations.jsonl",
            "labelled_path": root / "labelled.csv",
            "agreement_path": root / "agreement.csv",
            "disagreements_path": root / "disagreements.csv",
            "state_path": root / "label_studio.json",
        },
        "title": "yousaid test round trip",
    }


def tasks_by_comment(client, project_id) -> dict[str, object]:
    return {
        t.data["id"]: t for t in client.tasks.list(project=project_id, fields="all", page_size=1000)
    }


# --- tests -----------------------------------------------------------------------------------


def test_label_config_follows_the_codebook(codebook):
    xml = ls.label_config(codebook, ["route", "borough"])
    root = ET.fromstring(xml)
    themes = root.find(".//Choices[@name='themes']")
    assert themes.get("toName") == "text" and themes.get("choice") == "multiple"
    # An explicit "None of these themes" (stored as `none`), and nothing ticked is refused.
    assert [c.get("alias") for c in themes.findall("Choice")] == [*codebook.ids, "none"]
    assert [c.get("value") for c in themes.findall("Choice")] == [
        *(t.name for t in codebook.themes),
        ls.NONE_NAME,
    ]
    assert themes.get("required") == "true" and "None of these themes" in themes.get(
        "requiredMessage"
    )
    assert root.find(".//Text[@name='hint']").get("value") == "$hint"
    stance_views = [v for v in root.iter("View") if v.get("visibleWhen") == "choice-selected"]
    assert [v.find("Choices").get("name") for v in stance_views] == ["stance_drugs"]
    assert "drugs" in stance_views[0].get("whenChoiceValue").split(",")
    assert [c.get("alias") for c in stance_views[0].iter("Choice")] == [
        "more_enforcement",
        "legalise_or_less_enforcement",
    ]
    assert root.find(".//TextArea[@name='note']") is not None
    assert root.find(".//Text[@name='respondent']").get("value") == "$respondent"


def test_task_data_shows_respondent_metadata(comments):
    data = ls.task_data(comments.head(2), ["route", "age_band", "borough"])
    assert data[0]["id"] == "T-000" and data[0]["route"] == "talk_london"
    assert data[0]["respondent"] == "Route: talk_london · Age: 16-24 · Borough: Barnet"
    assert data[0]["sample"] == "train" and "suggestion, not the answer" in data[0]["hint"]
    audit = ls.task_data(comments.head(1), sample="audit", extra={"audit_population": 25})
    assert audit[0]["sample"] == "audit" and audit[0]["audit_population"] == 25
    assert "Nothing is ticked" in audit[0]["hint"]
    with pytest.raises(ValueError):
        ls.task_data(comments.head(1), sample="random")


def test_instructions_give_the_codebook_and_say_ticks_are_suggestions(codebook):
    html = ls.instructions(codebook)
    for theme in codebook.themes:
        assert theme.name.replace("'", "&#x27;") in html
    assert "suggestions, not the answer" in html and "None of these themes" in html
    assert codebook.by_id["vawg"].description[:40] in html


def test_a_theme_called_none_is_refused(codebook, tmp_path):
    data = yaml.safe_load(CODEBOOK.read_text())
    data["themes"][0]["id"] = "none"
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="reserved"):
        ls.label_config(load_codebook(path))


def test_script_spots_a_moved_port():
    log = "* Port 8080 is in use.\n* Trying to start at 8081\nStarting development server at http://127.0.0.1:8081/"
    assert script.port_moved(log, 8080)
    assert not script.port_moved("Starting development server at http://127.0.0.1:8080/\n", 8080)


def test_script_refuses_a_busy_port(server, tmp_path):
    started = _start(tmp_path / "other", tmp_path, port=str(server.port))
    assert started.returncode == 2
    assert f"port {server.port} on 127.0.0.1 is in use" in started.stderr
    assert not (tmp_path / "other").exists()


def test_server_is_local_only_and_quiet(server):
    log = (server.data_dir / "label-studio.log").read_text()
    assert f"Starting development server at http://127.0.0.1:{server.port}/" in log
    assert TOKEN not in log


def test_push_creates_tasks_with_metadata_and_preannotations(client, comments, codebook, state):
    meta = ls.metadata_columns(comments)
    assert meta == list(ls.METADATA)
    project = ls.ensure_project(
        client,
        state["title"],
        ls.label_config(codebook, meta),
        codebook.question,
        state_path=state["paths"]["state_path"],
        instructions=ls.instructions(codebook),
    )
    assert project.created
    stored = client.projects.get(project.id)
    # The server took the interface as generated: the explicit none and `required` included.
    assert stored.label_config.strip() == ls.label_config(codebook, meta).strip()
    assert 'required="true"' in stored.label_config and 'alias="none"' in stored.label_config
    assert stored.enable_empty_annotation is False
    assert stored.show_instruction and stored.expert_instruction == ls.instructions(codebook)
    preds = ls.predictions_from_coded(predictions_for(comments, codebook), codebook)
    chosen = comments["id"].tolist()[:12]
    res = ls.push(client, project, comments, chosen, preds, "m-1", meta)
    assert (res.tasks_created, res.already_in_project, res.predictions_imported) == (12, 0, 12)
    state["project_id"] = project.id

    tasks = tasks_by_comment(client, project.id)
    assert sorted(tasks) == chosen
    t3 = tasks["T-003"]
    assert (
        t3.data["text"] == TEXTS[3]
        and t3.data["borough"] == "Croydon"
        and t3.data["route"] == "talk_london"
    )
    assert "Route: talk_london" in t3.data["respondent"]
    assert len(t3.predictions) == 1
    pred = t3.predictions[0]
    pred = pred if isinstance(pred, dict) else pred.dict()
    assert pred["model_version"] == "m-1"
    assert pred["result"][0]["value"]["choices"] == [codebook.ids[3]]
    assert pred["score"] == pytest.approx(0.9)  # least sure decision: the coded theme at p=0.9
    assert client.projects.get(project.id).model_version == "m-1"


def test_analysts_annotate_and_pull(client, comments, codebook, state):
    pid = state["project_id"]
    tasks = tasks_by_comment(client, pid)
    second = client.users.create(
        username="second", email="second.analyst@example.org", password="pw-2-not-real"
    )
    state["second"] = second.id
    answers_a = {
        "T-000": result(["station_closures"]),
        "T-001": result(["officers_visibility"]),
        "T-002": result(["misconduct_accountability"]),
        "T-003": result(["drugs"], stance="more_enforcement", note="asks for arrests"),
        "T-004": result(["drugs"], stance="legalise_or_less_enforcement"),
        "T-005": result(["volume_crime"]),
        "T-006": result(["roads_antisocial_driving"]),
        "T-007": result([]),  # read, and no theme applies: labelled with no theme
    }
    ids = {}
    for cid, res in answers_a.items():
        ids[cid] = client.annotations.create(tasks[cid].id, result=res, lead_time=3.5).id
    client.annotations.create(tasks["T-008"].id, result=[], was_cancelled=True)  # skipped
    # A second analyst double-codes four comments, disagreeing on two of them.
    answers_b = {
        "T-000": result(["station_closures"]),
        "T-001": result(["officers_visibility", "vawg"]),  # planted theme disagreement
        "T-002": result(["misconduct_accountability"]),
        "T-003": result(
            ["drugs"], stance="legalise_or_less_enforcement"
        ),  # planted stance disagreement
    }
    for cid, res in answers_b.items():
        client.annotations.create(tasks[cid].id, result=res, completed_by=second.id)
    state["annotation_ids"] = ids

    out = ls.pull(client, codebook, comments=comments, **state["paths"])
    assert (out.annotations, out.skipped, out.appended, out.labelled) == (12, 1, 13, 8)

    history = ls.read_annotations(state["paths"]["annotations_path"])
    assert len(history) == 13
    skipped = [r for r in history if r["was_cancelled"]]
    assert [r["comment_id"] for r in skipped] == ["T-008"]
    rec = next(
        r
        for r in history
        if r["comment_id"] == "T-003" and r["annotator"] == "lead.analyst@example.org"
    )
    assert rec["themes"] == ["drugs"] and rec["stances"] == ["drugs:more_enforcement"]
    assert rec["note"] == "asks for arrests" and rec["task_id"] == tasks["T-003"].id
    assert rec["annotation_id"] == ids["T-003"] and rec["created_at"] and rec["updated_at"]
    assert rec["prediction_model_version"] == "m-1"
    # Label Studio records the suggestion it showed: comment i was suggested theme i.
    assert rec["suggested"] == [codebook.ids[3]] and rec["sample"] == "train"

    labelled = pd.read_csv(
        state["paths"]["labelled_path"], dtype=str, keep_default_na=False
    ).set_index("id")
    assert sorted(labelled.index) == [
        f"T-00{i}" for i in range(8)
    ]  # the skipped T-008 is not labelled
    assert (
        labelled.at["T-000", "labels"] == "officers_visibility|station_closures"
    )  # parent implied
    assert labelled.at["T-007", "labels"] == ""
    assert labelled.at["T-001", "labels"] == "officers_visibility|vawg"  # the later answer wins
    assert labelled.at["T-001", "annotator"] == "second.analyst@example.org"
    assert labelled.at["T-003", "stance"] == "drugs:legalise_or_less_enforcement"
    assert labelled.at["T-004", "stance"] == "drugs:legalise_or_less_enforcement"
    assert (
        labelled.at["T-001", "n_annotators"] == "2" and labelled.at["T-005", "n_annotators"] == "1"
    )
    assert labelled.at["T-002", "borough"] == "Newham" and labelled.at["T-002", "text"] == TEXTS[2]
    assert set(labelled["source"]) == {"label_studio"}
    assert set(labelled["sample"]) == {"train"} and set(labelled["explicit_none"]) == {"False"}
    # Suggested theme i for comment i: T-006 took the suggestion (roads), T-000 changed it.
    assert labelled.at["T-006", "suggestion_changed"] == "False"
    assert labelled.at["T-000", "suggestion_changed"] == "True"
    assert labelled.at["T-007", "suggestion_changed"] == "True"  # vawg suggested, nothing kept
    assert out.empty == 1  # T-007: the API accepts an empty result; read as no theme
    # The file is in the labelled-data contract: the trainer's reader takes it as is.
    frame = read_labelled(state["paths"]["labelled_path"], codebook)
    assert len(frame) == 8 and str(frame["suggestion_changed"].dtype) == "boolean"


def test_agreement_on_planted_disagreements(codebook, state):
    per_theme = pd.read_csv(state["paths"]["agreement_path"]).set_index("theme_id")
    assert per_theme["comments"].eq(4).all() and per_theme["annotators"].eq(2).all()
    assert per_theme.at["vawg", "percent_agreement"] == pytest.approx(0.75)
    assert per_theme.at["vawg", "alpha"] < 0.5
    assert per_theme.at["station_closures", "alpha"] == pytest.approx(1.0)
    assert per_theme.at["misconduct_accountability", "alpha"] == pytest.approx(1.0)
    assert pd.isna(per_theme.at["specific_groups", "alpha"])  # nobody used it: undefined, not 1
    dis = pd.read_csv(state["paths"]["disagreements_path"], dtype=str, keep_default_na=False)
    got = {(r.comment_id, r.theme_id, r.kind) for r in dis.itertuples()}
    assert got == {("T-001", "vawg", "theme"), ("T-003", "drugs", "stance")}
    vawg = dis[dis["theme_id"] == "vawg"].iloc[0]
    assert (
        vawg["said_yes"] == "second.analyst@example.org"
        and vawg["said_no"] == "lead.analyst@example.org"
    )


def test_pull_again_appends_nothing(client, comments, codebook, state):
    before = state["paths"]["annotations_path"].read_text()
    out = ls.pull(client, codebook, comments=comments, **state["paths"])
    assert out.appended == 0
    assert state["paths"]["annotations_path"].read_text() == before


def test_relabel_latest_wins_and_history_is_kept(client, comments, codebook, state):
    ann = state["annotation_ids"]["T-005"]
    time.sleep(0.01)
    client.annotations.update(
        ann, result=result(["volume_crime", "specific_groups"], note="changed my mind")
    )
    out = ls.pull(client, codebook, comments=comments, **state["paths"])
    assert out.appended == 1
    history = [
        r
        for r in ls.read_annotations(state["paths"]["annotations_path"])
        if r["annotation_id"] == ann
    ]
    assert [r["themes"] for r in history] == [["volume_crime"], ["volume_crime", "specific_groups"]]
    labelled = pd.read_csv(
        state["paths"]["labelled_path"], dtype=str, keep_default_na=False
    ).set_index("id")
    assert labelled.at["T-005", "labels"] == "volume_crime|specific_groups"
    assert labelled.at["T-005", "note"] == "changed my mind"
    assert len(labelled) == 8


def test_repush_never_duplicates_and_refreshes_predictions(client, comments, codebook, state):
    meta = ls.metadata_columns(comments)
    project = ls.ensure_project(
        client,
        state["title"],
        ls.label_config(codebook, meta),
        codebook.question,
        state_path=state["paths"]["state_path"],
    )
    assert not project.created and project.id == state["project_id"]
    coded = predictions_for(comments, codebook)
    preds = ls.predictions_from_coded(coded, codebook)
    chosen = comments["id"].tolist()[:18]
    res = ls.push(client, project, comments, chosen, preds, "m-2", meta)
    assert (res.tasks_created, res.already_in_project) == (6, 12)
    tasks = tasks_by_comment(client, project.id)
    all_tasks = list(client.tasks.list(project=project.id, page_size=1000))
    assert len(all_tasks) == len(tasks) == 18  # one task per comment id
    # New predictions only where nobody has answered yet (skipped T-008 included).
    unanswered = [cid for cid, t in tasks.items() if not t.total_annotations]
    assert res.predictions_imported == len(unanswered) == 18 - 8
    t0 = tasks["T-000"]
    versions = {(p if isinstance(p, dict) else p.dict())["model_version"] for p in t0.predictions}
    assert versions == {"m-1"}
    listed = ls.project_tasks(client, project.id).set_index("comment_id")["model_versions"]
    assert listed["T-015"] == ["m-2"] and sorted(listed["T-008"]) == ["m-1", "m-2"]
    assert listed["T-000"] == ["m-1"]
    assert client.projects.get(project.id).model_version == "m-2"
    again = ls.push(client, project, comments, chosen, preds, "m-2", meta)
    assert (again.tasks_created, again.predictions_imported) == (0, 0)


def test_renaming_or_removing_a_theme_keeps_the_history(client, codebook, comments, state, caplog):
    data = yaml.safe_load(CODEBOOK.read_text())
    for theme in data["themes"]:
        if theme["id"] == "volume_crime":
            theme["name"] = "Everyday crime (renamed)"
    renamed = load_codebook_from(data, state)
    meta = ls.metadata_columns(comments)
    project = ls.ensure_project(
        client,
        state["title"],
        ls.label_config(renamed, meta),
        state_path=state["paths"]["state_path"],
    )
    assert "Everyday crime (renamed)" in client.projects.get(project.id).label_config
    out = ls.pull(client, renamed, comments=comments, **state["paths"])
    assert out.appended == 0  # stored values are ids: a rename changes nothing
    labelled_path = state["paths"]["labelled_path"]
    labelled = pd.read_csv(labelled_path, dtype=str, keep_default_na=False).set_index("id")
    assert labelled.at["T-005", "labels"] == "volume_crime|specific_groups"

    # Label Studio accepts an interface without a theme that has answers; the pull drops the
    # retired id from labelled.csv (with a warning) and the history keeps it.
    data["themes"] = [t for t in data["themes"] if t["id"] != "volume_crime"]
    removed = load_codebook_from(data, state)
    ls.ensure_project(
        client,
        state["title"],
        ls.label_config(removed, meta),
        state_path=state["paths"]["state_path"],
    )
    with caplog.at_level("WARNING", logger="pipeline.labelling"):
        ls.pull(client, removed, comments=comments, **state["paths"])
    assert "no longer in the codebook were dropped: volume_crime" in caplog.text
    labelled = pd.read_csv(labelled_path, dtype=str, keep_default_na=False).set_index("id")
    assert labelled.at["T-005", "labels"] == "specific_groups"
    history = ls.read_annotations(state["paths"]["annotations_path"])
    assert any("volume_crime" in r["themes"] for r in history)

    ls.ensure_project(  # restore
        client,
        state["title"],
        ls.label_config(codebook, meta),
        state_path=state["paths"]["state_path"],
    )
    out = ls.pull(client, codebook, comments=comments, **state["paths"])
    labelled = pd.read_csv(labelled_path, dtype=str, keep_default_na=False).set_index("id")
    assert labelled.at["T-005", "labels"] == "volume_crime|specific_groups"


def load_codebook_from(data: dict, state) -> object:
    path = state["paths"]["annotations_path"].parent / "codebook-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_codebook(path)


# --- projects found by stored id, titles Label Studio accepts, concurrent pushes -------------

LONG_NAME = "London Police and Crime Plan 2021-2025 consultation: what's missing?"


def test_project_title_fits_label_studio():
    assert len(LONG_NAME) == 68
    title = ls.project_title(LONG_NAME, "missing")
    assert len(title) <= ls.TITLE_MAX and title.endswith(" · missing")
    name = title.removesuffix(" · missing")
    assert name.endswith("…") and LONG_NAME.startswith(name.removesuffix("…"))
    assert LONG_NAME[len(name) - 1] == " "  # cut at a word boundary, never mid-word
    assert ls.project_title("Policing plan", "missing") == "Policing plan · missing"
    long_question = ls.project_title(LONG_NAME, "what_else_should_the_plan_cover_in_detail")
    assert len(long_question) <= ls.TITLE_MAX and "…" in long_question
    assert ls.project_title("", "missing") == "missing"


def test_duplicate_tasks_keeps_the_lowest_and_every_answered_task():
    tasks = pd.DataFrame(
        {
            "task_id": [7, 3, 5, 9, 4, 8, 6],
            "comment_id": ["a", "a", "a", "b", "c", "c", ""],
            "annotations": [0, 0, 1, 0, 0, 0, 0],
            "cancelled": [0, 0, 0, 0, 0, 1, 0],
        }
    )
    assert sorted(ls.duplicate_tasks(tasks)["task_id"]) == [7]  # 5 answered, 8 skipped: kept


def _projects_titled(client, title: str) -> list[int]:
    return [p.id for p in client.projects.list(title=title) if p.title == title]


def test_a_long_codebook_name_makes_a_project_label_studio_accepts(client, codebook, tmp_path):
    config = ls.label_config(codebook)
    title = ls.project_title(LONG_NAME, "missing")
    project = ls.ensure_project(client, title, config, state_path=tmp_path / "a.json")
    assert project.created and client.projects.get(project.id).title == title
    # A title that is too long anyway is cut, not refused by the server.
    raw = ls.ensure_project(client, LONG_NAME, config, state_path=tmp_path / "b.json")
    stored = client.projects.get(raw.id).title
    assert raw.created and len(stored) <= 50 and stored == raw.title and stored.endswith("…")
    again = ls.ensure_project(client, LONG_NAME, config, state_path=tmp_path / "b.json")
    assert (again.id, again.created) == (raw.id, False)


def test_project_is_found_by_its_stored_id_after_a_rename(client, codebook, comments, tmp_path):
    state_path = tmp_path / "labels" / "label_studio.json"
    config = ls.label_config(codebook)
    first = ls.ensure_project(client, "Policing plan · missing", config, state_path=state_path)
    assert first.created
    stored = json.loads(state_path.read_text())
    assert stored["project_id"] == first.id and stored["url"] == client_url(client)

    # The analyst renames the codebook: the same project, renamed on the server.
    renamed = ls.ensure_project(
        client, "Police and Crime Plan · missing", config, state_path=state_path
    )
    assert (renamed.id, renamed.created) == (first.id, False)
    assert client.projects.get(first.id).title == "Police and Crime Plan · missing"
    assert _projects_titled(client, "Policing plan · missing") == []
    assert _projects_titled(client, "Police and Crime Plan · missing") == [first.id]
    assert json.loads(state_path.read_text())["title"] == "Police and Crime Plan · missing"

    # A pull finds it by the state too, whatever the title is now.
    paths = {
        f"{k}_path": tmp_path / f"{k}.{ext}"
        for k, ext in (
            ("annotations", "jsonl"),
            ("labelled", "csv"),
            ("agreement", "csv"),
            ("disagreements", "csv"),
        )
    }
    out = ls.pull(client, codebook, state_path=state_path, comments=comments, **paths)
    assert out.project_id == first.id

    # The project was deleted on the server: a new one is made and recorded.
    client.projects.delete(first.id)
    fresh = ls.ensure_project(
        client, "Police and Crime Plan · missing", config, state_path=state_path
    )
    assert fresh.created and fresh.id != first.id
    assert json.loads(state_path.read_text())["project_id"] == fresh.id


def client_url(client) -> str:
    return client._client_wrapper.get_base_url().rstrip("/")


def _run_together(*jobs):
    """Start the jobs at the same instant on their own threads; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(k, job):
        try:
            barrier.wait()
            results[k] = job()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def _comment_ids(client, project_id) -> list[str]:
    return [t.data["id"] for t in client.tasks.list(project=project_id, page_size=1000)]


def test_concurrent_pushes_make_one_project_and_one_task_per_comment(
    server, comments, codebook, tmp_path
):
    state_path = tmp_path / "labels" / "label_studio.json"
    meta = ls.metadata_columns(comments)
    config = ls.label_config(codebook, meta)
    title = "yousaid concurrent pushes"
    clients = [ls.connect(ls.Connection(server.url, TOKEN)) for _ in range(2)]
    projects = _run_together(
        *[lambda c=c: ls.ensure_project(c, title, config, state_path=state_path) for c in clients]
    )
    assert projects[0].id == projects[1].id and sorted(p.created for p in projects) == [
        False,
        True,
    ]
    assert _projects_titled(clients[0], title) == [projects[0].id]

    ids = comments["id"].tolist()
    chosen = [ids[:20], ids[10:]]  # ten comments in both pushes
    results = _run_together(
        *[
            lambda c=c, p=p, ch=ch: ls.push(c, p, comments, ch, metadata=meta)
            for c, p, ch in zip(clients, projects, chosen, strict=True)
        ]
    )
    got = _comment_ids(clients[0], projects[0].id)
    assert sorted(got) == sorted(ids)  # exactly one task per comment id
    assert sum(r.tasks_created for r in results) == 30
    assert sum(r.duplicates_removed for r in results) == 0  # the lock, not the clean-up, did it


def test_pushes_from_two_machines_leave_no_duplicates(server, comments, codebook, tmp_path):
    """Two checkouts (own state file, so no shared lock) pushing at once; then a project that
    already holds duplicates, one of them answered, is cleaned by the next push."""
    meta = ls.metadata_columns(comments)
    client = ls.connect(ls.Connection(server.url, TOKEN))
    first = ls.ensure_project(
        client,
        "yousaid two machines",
        ls.label_config(codebook, meta),
        state_path=tmp_path / "a" / "label_studio.json",
    )
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    second = ls.ensure_project(
        client,
        "yousaid two machines",
        ls.label_config(codebook, meta),
        state_path=tmp_path / "b" / "label_studio.json",
    )
    assert second.id == first.id and not second.created
    clients = [ls.connect(ls.Connection(server.url, TOKEN)) for _ in range(2)]
    ids = comments["id"].tolist()
    _run_together(
        lambda: ls.push(clients[0], first, comments, ids[:20], metadata=meta),
        lambda: ls.push(clients[1], second, comments, ids[5:25], metadata=meta),
    )
    got = _comment_ids(client, first.id)
    assert sorted(got) == sorted(ids[:25])

    # Duplicates that slipped in some other way: T-000 twice more (one answered), T-001 once.
    listed = ls.project_tasks(client, first.id).set_index("comment_id")["task_id"]
    data = ls.task_data(comments[comments["id"].isin(["T-000", "T-001"])], meta)
    client.projects.import_tasks(first.id, request=[{"data": d} for d in data + data[:1]])
    extra = ls.project_tasks(client, first.id)
    extra = extra[~extra["task_id"].isin(listed.tolist())]
    answered = int(extra[extra["comment_id"] == "T-000"]["task_id"].max())
    client.annotations.create(answered, result=result(["vawg"]))
    res = ls.push(client, first, comments, ["T-000", "T-025"], metadata=meta)
    assert (res.tasks_created, res.already_in_project, res.duplicates_removed) == (1, 1, 2)
    after = ls.project_tasks(client, first.id)
    t000 = sorted(after.loc[after["comment_id"] == "T-000", "task_id"])
    assert t000 == [int(listed["T-000"]), answered]  # the lowest, and the answered one
    assert (after["comment_id"] != "T-000").sum() == after["comment_id"].nunique() - 1


@pytest.fixture
def cli_project(server, comments, codebook, tmp_path, monkeypatch):
    """A workspace with one question in tmp_path and the environment a user would have (token in
    env only)."""
    import pipeline.stages.label as stage

    config = {
        "name": "clitest",
        "title": "CLI test consultation",
        "source": {"files": ["export.csv"]},
        "id_column": "id",
        "questions": [{"id": "q", "column": "text", "text": "What is missing?"}],
        "settings": {"label": {"url": server.url, "batch": 5}},
    }
    (tmp_path / "consultation.yaml").write_text(yaml.safe_dump(config))
    q = tmp_path / "q"
    (q / "data" / "interim").mkdir(parents=True)
    (q / "data" / "processed").mkdir(parents=True)
    shutil.copy(CODEBOOK, q / "codebook.yaml")
    comments.to_parquet(q / "data" / "interim" / "comments.parquet")
    for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_USER_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # The chooser (embeddings, model) is tested elsewhere: here it returns rows in order.
    monkeypatch.setattr(
        stage,
        "choose",
        lambda ws, q, n, exclude=(): (
            comments,
            [i for i, c in enumerate(comments["id"]) if c not in set(exclude)][:n],
            "in order",
        ),
    )
    return tmp_path


def test_cli_push_and_pull(cli_project, client, comments, codebook, capsys):
    from typer.testing import CliRunner

    runner = CliRunner()
    ws = ["--workspace", str(cli_project)]
    q = cli_project / "q"
    predictions_for(comments, codebook).to_parquet(q / "data" / "processed" / "coded.parquet")
    first = runner.invoke(cli.app, ["-v", "label", "push", "--n", "4", *ws])
    assert first.exit_code == 0, first.output
    assert "4 tasks added" in first.output and "pre-annotations from model m-1" in first.output
    assert "next: " in first.output
    state = json.loads((q / "labels" / "label_studio.json").read_text())
    pid = state["project_id"]
    assert client.projects.get(pid).title == ls.project_title("clitest", "q")
    tasks = tasks_by_comment(client, pid)
    assert sorted(tasks) == ["T-000", "T-001", "T-002", "T-003"]
    client.annotations.create(tasks["T-002"].id, result=result(["misconduct_accountability"]))

    second = runner.invoke(cli.app, ["label", "push", *ws])  # label.batch = 5
    assert second.exit_code == 0, second.output
    assert "5 tasks added (in order), 4 already there" in second.output
    assert sorted(tasks_by_comment(client, pid)) == [f"T-00{i}" for i in range(9)]

    pulled = runner.invoke(cli.app, ["label", "pull", *ws, "--question", "q"])
    assert pulled.exit_code == 0, pulled.output
    labelled = pd.read_csv(q / "labels" / "labelled.csv", dtype=str, keep_default_na=False)
    assert labelled[["id", "labels"]].values.tolist() == [["T-002", "misconduct_accountability"]]
    # The token is in no output and no file written.
    assert TOKEN not in first.output + second.output + pulled.output + capsys.readouterr().err
    for path in (q / "labels").rglob("*"):
        assert TOKEN not in path.read_text(), path

    # A big push fills up to all 30 comments, still one task per comment.
    third = runner.invoke(cli.app, ["label", "push", "--n", "30", *ws])
    assert third.exit_code == 0, third.output
    ids = [t.data["id"] for t in client.tasks.list(project=pid, page_size=1000)]
    assert len(ids) == len(set(ids)) == 30


def test_server_down_is_one_clear_error_and_writes_nothing(cli_project, comments, codebook):
    from pipeline.stages.label import pull
    from pipeline.workspace import load_workspace

    port = script.free_port()
    path = cli_project / "consultation.yaml"
    config = yaml.safe_load(path.read_text())
    config["settings"]["label"]["url"] = f"http://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(config))
    labels = cli_project / "q" / "labels"
    labels.mkdir()
    (labels / "labelled.csv").write_text("id,text,labels\nT-001,x,vawg\n")
    (labels / "annotations.jsonl").write_text('{"comment_id": "T-001"}\n')

    def snapshot():
        return {p.name: p.read_bytes() for p in cli_project.rglob("*") if p.is_file()}

    before = snapshot()
    ws = load_workspace(cli_project)
    with pytest.raises(ls.LabelStudioError, match=f"not answering at http://127.0.0.1:{port}"):
        pull(ws, ws.question("q"))
    for command in ("pull", "push"):
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "label", command, "--workspace", str(cli_project)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ},
        )
        assert proc.returncode == 2, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert lines == [
            f"error: Label Studio is not answering at http://127.0.0.1:{port} (ConnectError); "
            "start it with `scripts/label-studio` (or set LABEL_STUDIO_URL)"
        ]
        assert TOKEN not in proc.stderr + proc.stdout
    assert snapshot() == before


def test_missing_token_is_a_clear_error(monkeypatch, tmp_path):
    for k in ls.TOKEN_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(ls.LabelStudioError, match="no Label Studio token"):
        ls.resolve_connection("http://127.0.0.1:9")
    (tmp_path / "yousaid").mkdir()
    (tmp_path / "yousaid" / "label-studio.env").write_text(
        f"# saved by the analyst\nLABEL_STUDIO_API_KEY='{TOKEN}'\nLABEL_STUDIO_URL=http://127.0.0.1:9/\n"
    )
    conn = ls.resolve_connection("http://127.0.0.1:8080")
    assert conn.url == "http://127.0.0.1:9" and conn.token == TOKEN
    assert TOKEN not in repr(conn)


def test_wrong_token_is_refused(server):
    with pytest.raises(ls.LabelStudioError, match="refused the token"):
        ls.connect(ls.Connection(server.url, "not-the-token-123456"))


def test_materialise_keeps_seed_labels_and_handles_skips(codebook):
    comments = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    history = [
        {
            "comment_id": "a",
            "annotator": "p",
            "themes": ["vawg"],
            "stances": [],
            "note": "",
            "updated_at": "2026-01-01T10:00:00Z",
            "annotation_id": 1,
            "was_cancelled": False,
        },
        {
            "comment_id": "b",
            "annotator": "p",
            "themes": [],
            "stances": [],
            "note": "",
            "updated_at": "2026-01-01T10:00:00Z",
            "annotation_id": 2,
            "was_cancelled": True,
        },
        {
            "comment_id": "a",
            "annotator": "q",
            "themes": ["drugs"],
            "stances": ["drugs:more_enforcement"],
            "note": "",
            "updated_at": "2026-01-01T11:00:00Z",
            "annotation_id": 3,
            "was_cancelled": False,
        },
        {
            "comment_id": "a",
            "annotator": "q",
            "themes": ["drugs", "retired_theme"],
            "stances": [],
            "note": "",
            "updated_at": "2026-01-01T09:00:00Z",
            "annotation_id": 4,
            "was_cancelled": True,
        },
    ]
    seed = pd.DataFrame(
        {
            "id": ["a", "c"],
            "text": ["x", "z"],
            "labels": ["volume_crime", "vawg"],
            "stance": ["", ""],
        }
    )
    out = ls.materialise(history, codebook, comments, seed).set_index("id")
    assert sorted(out.index) == ["a", "c"]  # b was only skipped
    assert out.at["a", "labels"] == "drugs" and out.at["a", "stance"] == "drugs:more_enforcement"
    assert out.at["a", "source"] == "label_studio"
    assert out.at["c", "labels"] == "vawg" and out.at["c", "source"] == "seed"


# --- two streams: blind audit and suggested train; suggestion changed; none of these ----------


def _predictions(task) -> list[dict]:
    return [p if isinstance(p, dict) else p.dict() for p in task.predictions]


def test_audit_tasks_never_get_predictions_and_streams_round_trip(
    client, comments, codebook, tmp_path
):
    paths = {
        "annotations_path": tmp_path / "annotations.jsonl",
        "labelled_path": tmp_path / "labelled.csv",
        "agreement_path": tmp_path / "agreement.csv",
        "disagreements_path": tmp_path / "disagreements.csv",
        "state_path": tmp_path / "label_studio.json",
    }
    meta = ls.metadata_columns(comments)
    project = ls.ensure_project(
        client,
        "yousaid streams",
        ls.label_config(codebook, meta),
        state_path=paths["state_path"],
        instructions=ls.instructions(codebook),
    )
    preds = ls.predictions_from_coded(predictions_for(comments, codebook), codebook)
    train_ids = [f"T-00{i}" for i in range(4)]
    audit_ids = ["T-020", "T-021", "T-022", "T-023"]
    with pytest.raises(ValueError, match="without predictions"):
        ls.push(client, project, comments, audit_ids, preds, "m-1", meta, sample="audit")
    audit = ls.push(
        client,
        project,
        comments,
        audit_ids,
        metadata=meta,
        sample="audit",
        extra={"audit_population": 26},
    )
    train = ls.push(client, project, comments, train_ids, preds, "m-1", meta)
    assert (audit.tasks_created, audit.predictions_imported) == (4, 0)
    assert (train.tasks_created, train.predictions_imported) == (4, 4)  # never the audit's

    def check_blind():
        tasks = tasks_by_comment(client, project.id)
        for cid in audit_ids:
            t = tasks[cid]
            assert t.data["sample"] == "audit" and t.data["audit_population"] == 26
            assert _predictions(t) == [] and not t.total_predictions, cid
        for cid in train_ids:
            assert tasks[cid].data["sample"] == "train" and _predictions(tasks[cid]), cid
        return tasks

    check_blind()
    # A later push refreshing the suggestions (new model, audit ids asked for again) still
    # leaves every audit task without one.
    again = ls.push(client, project, comments, train_ids + audit_ids, preds, "m-2", meta)
    assert (again.tasks_created, again.predictions_imported) == (0, 4)
    listed = ls.project_tasks(client, project.id).set_index("comment_id")
    assert listed.loc[audit_ids, "model_versions"].map(len).eq(0).all()
    assert listed.loc[audit_ids, "sample"].eq("audit").all()
    tasks = check_blind()

    # Shown now: model m-2's suggestion, theme i for comment T-00i.
    shown = {cid: [codebook.ids[int(cid[2:])]] for cid in train_ids}
    answers = {
        "T-000": result(shown["T-000"]),  # accepted as suggested
        "T-001": result([*shown["T-001"], "vawg"]),  # one theme added
        "T-002": result(["officers_visibility", "station_closures"]),  # parent added: same set
        "T-003": result(["none"]),  # the suggestion rejected: none of these
        "T-020": result(["drugs"], stance="more_enforcement"),
        "T-021": result(["none"]),  # explicit no theme
        "T-022": result(["none", "vawg"]),  # contradictory: not a label
        "T-023": result([]),  # nothing ticked: the API does not enforce `required`
    }
    for cid, res in answers.items():
        client.annotations.create(tasks[cid].id, result=res)
    out = ls.pull(client, codebook, comments=comments, **paths)
    assert (out.contradictory, out.empty) == (1, 1)

    labelled = pd.read_csv(paths["labelled_path"], dtype=str, keep_default_na=False)
    assert list(labelled.columns[:7]) == [
        "id",
        "text",
        "labels",
        "stance",
        "sample",
        "suggestion_changed",
        "explicit_none",
    ]
    got = labelled.set_index("id")
    assert "T-022" not in got.index  # none + a theme: reported, not a label
    assert got.loc[train_ids, "sample"].eq("train").all()
    assert got.loc[["T-020", "T-021", "T-023"], "sample"].eq("audit").all()
    assert got["suggestion_changed"].to_dict() == {
        "T-000": "False",
        "T-001": "True",
        "T-002": "False",
        "T-003": "True",
        "T-020": "",
        "T-021": "",
        "T-023": "",
    }
    assert got.at["T-021", "labels"] == "" and got.at["T-021", "explicit_none"] == "True"
    assert got.at["T-023", "labels"] == "" and got.at["T-023", "explicit_none"] == "False"
    assert got.at["T-003", "labels"] == "" and got.at["T-003", "explicit_none"] == "True"
    assert got.at["T-020", "stance"] == "drugs:more_enforcement"
    assert got.at["T-020", "audit_population"] == "26" and got.at["T-000", "audit_population"] == ""
    dis = pd.read_csv(paths["disagreements_path"], dtype=str, keep_default_na=False)
    assert dis[["comment_id", "theme_id", "kind"]].values.tolist() == [
        ["T-022", "vawg", "none_and_theme"]
    ]

    frame = read_labelled(paths["labelled_path"], codebook)
    summary = stream_summary(frame)
    assert summary == {
        "audit": 3,
        "train": 4,
        "train_with_suggestion": 4,
        "accepted_unchanged": 0.5,
    }
    assert out.streams == summary
    # The annotator fixes the contradiction: the next pull takes it as a label.
    fixed = next(a for a in client.annotations.list(tasks["T-022"].id))
    client.annotations.update(fixed.id, result=result(["vawg"]))
    ls.pull(client, codebook, comments=comments, **paths)
    got = pd.read_csv(paths["labelled_path"], dtype=str, keep_default_na=False).set_index("id")
    assert got.at["T-022", "labels"] == "vawg" and got.at["T-022", "sample"] == "audit"


def test_a_project_from_before_streams_is_brought_up_to_date(client, comments, codebook, tmp_path):
    """An old project: empty annotations on, no instructions, tasks without a stream or hint."""
    old_config = ls.label_config(codebook).replace('    <Text name="hint" value="$hint"/>\n', "")
    old = client.projects.create(
        title="yousaid before streams", label_config=old_config, enable_empty_annotation=True
    )
    old_tasks = [{"data": {"id": c, "text": "x"}} for c in ("T-000", "T-001")]
    client.projects.import_tasks(old.id, request=old_tasks)
    state_path = tmp_path / "label_studio.json"
    state_path.write_text(json.dumps({"project_id": old.id}))
    project = ls.ensure_project(
        client,
        "yousaid before streams",
        ls.label_config(codebook),
        state_path=state_path,
        instructions=ls.instructions(codebook),
    )
    assert project.id == old.id and not project.created
    stored = client.projects.get(old.id)
    assert stored.enable_empty_annotation is False and stored.show_instruction
    assert 'alias="none"' in stored.label_config
    res = ls.push(client, project, comments, ["T-002"])
    assert (res.tasks_created, res.tasks_updated) == (1, 2)
    for t in tasks_by_comment(client, old.id).values():
        assert t.data["sample"] == "train" and t.data["hint"] == ls.HINTS["train"]


def test_cli_push_audit(cli_project, client, comments, codebook):
    from typer.testing import CliRunner

    runner = CliRunner()
    config_path = cli_project / "consultation.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["name"] = "clitest_audit"  # a project of its own, not the one of the test above
    config_path.write_text(yaml.safe_dump(config))
    ws = ["--workspace", str(cli_project)]
    q = cli_project / "q"
    coded = predictions_for(comments, codebook)
    coded.to_parquet(q / "data" / "processed" / "coded.parquet")
    first = runner.invoke(cli.app, ["label", "push", "--n", "4", "--audit", "5", *ws])
    assert first.exit_code == 0, first.output
    assert "4 tasks added" in first.output
    # 30 comments, 4 taken by the train stream: the audit is drawn from the other 26.
    assert "audit: 5 blind random tasks (no suggestions) drawn from 26" in first.output
    assert "suggested audit for 26 comments" in first.output
    state = json.loads((q / "labels" / "label_studio.json").read_text())
    assert [(d["n"], d["population"]) for d in state["audit_draws"]] == [(5, 26)]
    tasks = tasks_by_comment(client, state["project_id"])
    audit = sorted(c for c, t in tasks.items() if t.data["sample"] == "audit")
    assert len(audit) == 5 and not set(audit) & {"T-000", "T-001", "T-002", "T-003"}
    assert all(not _predictions(tasks[c]) for c in audit)

    # Retrained: refresh the suggestions only (--n 0); audit tasks stay blind.
    coded["model_version"] = "m-2"
    coded.to_parquet(q / "data" / "processed" / "coded.parquet")
    refresh = runner.invoke(cli.app, ["label", "push", "--n", "0", *ws])
    assert refresh.exit_code == 0, refresh.output
    assert "4 pre-annotations from model m-2" in refresh.output
    tasks = tasks_by_comment(client, state["project_id"])
    assert all(not _predictions(tasks[c]) for c in audit)

    auto = runner.invoke(cli.app, ["label", "push", "--audit", "auto", "--halfwidth", "0.1", *ws])
    assert auto.exit_code == 0, auto.output
    # 21 left + 5 drawn = 26 comments to size for, at the report's level (95%); 5 are drawn.
    from pipeline.select import suggest_audit_size

    want = suggest_audit_size(26, 0.1, 0.1, 0.95)
    assert f"suggested audit for 26 comments: {want}" in auto.output
    assert f"audit: {want - 5} blind random tasks" in auto.output
    bad = runner.invoke(cli.app, ["label", "push", "--audit", "lots", *ws])
    assert bad.exit_code != 0


# --- the labelled-data contract without a server ------------------------------------------


def test_suggestion_changed_compares_the_label_sets(codebook):
    assert suggestion_changed(["vawg"], None, codebook) is None  # nothing was shown
    assert suggestion_changed(["vawg"], ["vawg"], codebook) is False
    assert suggestion_changed([], [], codebook) is False  # no theme suggested, none chosen
    assert (
        suggestion_changed(
            ["station_closures"], ["station_closures", "officers_visibility"], codebook
        )
        is False
    )  # the parent is implied anyway
    assert suggestion_changed(["vawg", "drugs"], ["vawg"], codebook) is True


def test_read_labelled_defaults_and_checks_the_stream_columns(codebook, tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("id,text,labels\n1,a,vawg\n2,b,\n")
    frame = read_labelled(plain, codebook)
    assert frame["sample"].tolist() == ["train", "train"]
    assert frame["suggestion_changed"].isna().all() and not frame["explicit_none"].any()
    assert stream_summary(frame) == {
        "audit": 0,
        "train": 2,
        "train_with_suggestion": 0,
        "accepted_unchanged": None,
    }
    streams = tmp_path / "streams.csv"
    streams.write_text(
        "id,text,labels,sample,suggestion_changed,explicit_none\n"
        "1,a,vawg,train,False,\n2,b,,audit,,True\n3,c,drugs,,True,false\n"
    )
    frame = read_labelled(streams, codebook)
    assert frame["sample"].tolist() == ["train", "audit", "train"]
    assert frame["suggestion_changed"].tolist() == [False, pd.NA, True]
    assert frame["explicit_none"].tolist() == [False, True, False]
    assert stream_summary(frame)["accepted_unchanged"] == 0.5
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,labels,sample\n1,a,vawg,random\n")
    with pytest.raises(InputError, match="sample must be train or audit") as err:
        read_labelled(bad, codebook)
    assert "row 2" in str(err.value)


def test_read_labelled_takes_streams_from_a_label_studio_export(codebook, tmp_path):
    def ann(choices, shown=None, when="2026-01-01T10:00:00Z"):
        out = {"id": 1, "result": result(choices), "was_cancelled": False, "updated_at": when}
        if shown is not None:
            out["prediction"] = {"model_version": "m-1", "result": result(shown)}
        return out

    tasks = [
        {"data": {"id": "a", "text": "x", "hint": "h"}, "annotations": [ann(["vawg"], ["vawg"])]},
        {"data": {"id": "b", "text": "y", "sample": "train"}, "annotations": [ann(["none"], [])]},
        {
            "data": {"id": "c", "text": "z", "sample": "audit", "audit_population": 9},
            "annotations": [ann(["none"])],
        },
        {
            "data": {"id": "d", "text": "w", "sample": "audit"},
            "annotations": [ann(["drugs"]), ann(["none", "vawg"], when="2026-01-02T10:00:00Z")],
        },
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    frame = read_labelled(path, codebook).set_index("id")
    assert "hint" not in frame.columns  # what the screen shows is not comment metadata
    assert frame["sample"].to_dict() == {"a": "train", "b": "train", "c": "audit", "d": "audit"}
    assert frame["suggestion_changed"].tolist() == [False, False, pd.NA, pd.NA]
    assert frame["explicit_none"].tolist() == [False, True, True, False]
    assert frame.at["d", "labels"] == "drugs"  # the later answer contradicts itself: not used
    assert frame.at["c", "audit_population"] == 9
