"""A new user's own consultation, end to end: init from an unseen two-question export (title row
above the header, other column names, csv and xlsx), discover with no codebook, train on
fixture labels, code, report. Nothing of the demo may appear in any of its outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import CACHE, DEMO, QUICK_TUNE
from docx import Document
from typer.testing import CliRunner

from pipeline import cli
from pipeline.errors import NotReady, YousaidError
from pipeline.stages import BY_NAME, STAGES
from pipeline.stages.status import next_step, question_status
from pipeline.workspace import load_workspace

PARKS = Path(__file__).parent / "data" / "parks"
Q4 = "q4_council_prioritise"
Q9 = "q9_about_draft"
FIXTURES = {Q4: "q4", Q9: "q9"}


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def use_shared_cache(root: Path) -> None:
    """Edit settings as an analyst would, keeping init's comments."""
    path = root / "consultation.yaml"
    settings = {
        "embedding": {"cache_dir": str(CACHE)},
        "report": {"bootstrap": 200},
        "classifier": QUICK_TUNE,
    }
    text = path.read_text(encoding="utf-8").replace("settings: {}\n", "")
    path.write_text(text + yaml.safe_dump({"settings": settings}), encoding="utf-8")


@pytest.fixture(scope="module")
def parks(tmp_path_factory) -> Path:
    """A workspace made by `yousaid init` from the csv export, run as far as it goes unlabelled."""
    root = tmp_path_factory.mktemp("own") / "parks"
    invoke("init", str(root), "--from", str(PARKS / "export.csv"))
    use_shared_cache(root)
    invoke("run", "--workspace", str(root))
    return root


def demo_phrases() -> list[str]:
    """Texts of the demo that must never reach another workspace: title, questions, we-did."""
    config = yaml.safe_load((DEMO / "consultation.yaml").read_text(encoding="utf-8"))
    phrases = [config["title"], "Police and Crime Plan", "Talk London"]
    phrases += [q["text"] for q in config["questions"]]
    for path in DEMO.glob("*/responses.yaml"):
        for text in (yaml.safe_load(path.read_text(encoding="utf-8"))["responses"] or {}).values():
            phrases.append(" ".join(text.split()[:8]))
    return phrases


def test_init_guesses_the_layout_and_writes_it_down(parks):
    ws = load_workspace(parks)
    c = ws.config
    assert c.title.startswith("Riverside Borough Council - Parks and Green Spaces Strategy")
    assert c.source.header_row == 3  # below the title row and a blank row
    assert c.id_column == "Respondent reference"
    assert [q.column for q in c.questions] == [
        "Q4. What should the council prioritise in our parks over the next five years?",
        "Q9. Is there anything else you would like to tell us about the draft strategy?",
    ]
    assert [q.id for q in c.questions] == [Q4, Q9]
    assert c.questions[0].text.startswith("What should the council prioritise")
    assert c.respondent_columns["route"] == "How did you take part?"
    assert "Ward" in c.respondent_columns.values()
    assert "Email (optional)" not in c.respondent_columns.values()
    assert c.weight_column is None
    assert c.display_names["route"]["online_survey"] == "Online Survey"
    text = (parks / "consultation.yaml").read_text(encoding="utf-8")
    assert "Columns not read" in text and "Email (optional)" in text
    for q in c.questions:  # templates, never the demo's files
        assert yaml.safe_load(ws.paths(q).responses.read_text())["responses"] == {}
        assert yaml.safe_load(ws.paths(q).summaries.read_text())["summaries"] == {}


def test_xlsx_export_gives_the_same_comments(parks, tmp_path):
    root = tmp_path / "parks_xlsx"
    invoke("init", str(root), "--from", str(PARKS / "export.xlsx"), "--sheet", "Responses")
    ws = load_workspace(root)
    assert [q.id for q in ws.config.questions] == [Q4, Q9]
    BY_NAME["ingest"].run(ws, ws.question(Q4))
    from_xlsx = pd.read_parquet(ws.paths(Q4).comments)
    from_csv = pd.read_parquet(load_workspace(parks).paths(Q4).comments)
    cols = ["id", "text", "route", "substantive"]
    pd.testing.assert_frame_equal(from_xlsx[cols], from_csv[cols])
    assert "Email (optional)" not in from_xlsx.columns and "email" not in from_xlsx.columns


def test_init_again_never_overwrites_the_analysts_edits(parks):
    config = parks / "consultation.yaml"
    edited = config.read_text(encoding="utf-8").replace(
        "title: Riverside", "title: Edited Riverside"
    )
    config.write_text(edited, encoding="utf-8")
    output = invoke("init", str(parks), "--from", str(PARKS / "export.csv"))
    assert "already a workspace; nothing overwritten" in output
    assert config.read_text(encoding="utf-8") == edited
    config.write_text(edited.replace("title: Edited Riverside", "title: Riverside"))


def test_zero_labels_discover_writes_a_starter_codebook(parks):
    ws = load_workspace(parks)
    for q in ws.config.questions:
        paths = ws.paths(q)
        assert len(pd.read_parquet(paths.comments)) == 90  # every export row accounted for
        book = yaml.safe_load(paths.codebook.read_text(encoding="utf-8"))
        assert paths.codebook.read_text().startswith("# STARTER")
        assert 1 <= len(book["themes"]) <= 15
        assert "edit the starter codebook" in next_step(ws, q)
        assert not paths.model_dir.exists()  # run stopped before train


def test_train_with_too_few_labels_names_what_to_do(parks, tmp_path):
    ws = load_workspace(parks)
    q = ws.question(Q4)
    paths = ws.paths(q)
    shutil.copy(PARKS / "codebook_q4.yaml", paths.codebook)
    comments = pd.read_parquet(paths.comments)[["id", "text"]]
    labels = pd.read_csv(PARKS / "labels_q4.csv", dtype=str, keep_default_na=False)
    labels.head(5).merge(comments, on="id").to_csv(paths.labelled, index=False)
    with pytest.raises(NotReady, match=r"label push --workspace .* --question q4"):
        BY_NAME["train"].run(ws, q)
    paths.labelled.unlink()
    with pytest.raises(NotReady, match="no hand labels yet"):
        BY_NAME["train"].run(ws, q)


@pytest.fixture(scope="module")
def labelled_run(parks) -> Path:
    """The analyst writes both codebooks and labels a first round; then the whole chain runs."""
    ws = load_workspace(parks)
    for q in ws.config.questions:
        paths = ws.paths(q)
        tag = FIXTURES[q.id]
        shutil.copy(PARKS / f"codebook_{tag}.yaml", paths.codebook)
        comments = pd.read_parquet(paths.comments)[["id", "text"]]
        labels = pd.read_csv(PARKS / f"labels_{tag}.csv", dtype=str, keep_default_na=False)
        labels.merge(comments, on="id").to_csv(paths.labelled, index=False)
    shutil.copy(PARKS / "responses_q4.yaml", ws.paths(Q4).responses)
    invoke("run", "--workspace", str(parks))
    return parks


def test_both_questions_get_their_own_reports(labelled_run):
    ws = load_workspace(labelled_run)
    for q in ws.config.questions:
        reports = ws.paths(q).reports
        html = (reports / "report.html").read_text(encoding="utf-8")
        assert "Riverside Borough Council" in html
        assert q.text in html
        other = next(o for o in ws.config.questions if o.id != q.id)
        assert other.text not in html
        doc = Document(str(reports / "you_said_we_did.docx"))
        body = "\n".join(p.text for p in doc.paragraphs)
        assert q.text in body
        assert "Online Survey" in html and "online_survey" not in html  # display names
    first = ws.paths(Q4).reports / "you_said_we_did.md"
    assert "The final strategy" in first.read_text(encoding="utf-8")  # the analyst's we-did
    index = ws.index.read_text(encoding="utf-8")
    assert f"../{Q4}/reports/report.html" in index and f"../{Q9}/reports/report.html" in index
    assert ws.config.questions[1].text in index
    assert "next: read" in "next: " + next_step(ws, ws.question(Q9))


def test_no_demo_text_anywhere_in_the_outputs(labelled_run):
    phrases = demo_phrases()
    assert len(phrases) > 10
    checked = 0
    for path in labelled_run.rglob("*"):
        if not path.is_file() or path.suffix in (".npy", ".joblib"):
            continue
        if path.suffix == ".docx":
            text = "\n".join(p.text for p in Document(str(path)).paragraphs)
        elif path.suffix in (".xlsx", ".parquet"):
            sheets = (
                pd.read_excel(path, sheet_name=None, dtype=str).values()
                if path.suffix == ".xlsx"
                else [pd.read_parquet(path).astype(str)]
            )
            text = "\n".join(s.to_csv(index=False) for s in sheets)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        checked += 1
        for phrase in phrases:
            assert phrase.lower() not in text.lower(), f"{path} contains demo text {phrase!r}"
    assert checked >= 20


def test_status_shows_every_question(labelled_run):
    ws = load_workspace(labelled_run)
    rows = [question_status(ws, q) for q in ws.config.questions]
    assert [r.question for r in rows] == [Q4, Q9]
    for row in rows:
        assert row.comments.startswith("90 (")
        assert row.model.startswith("micro-F1") and row.report != "-"
    output = invoke("status", "--workspace", str(labelled_run))
    assert Q4 in output and Q9 in output


def test_model_directory_codes_anywhere_and_refuses_another_codebook(
    labelled_run, tmp_path, monkeypatch
):
    ws = load_workspace(labelled_run)
    model = ws.paths(Q4).model_dir
    table = tmp_path / "new.csv"
    pd.DataFrame(
        {"id": ["a", "b"], "text": ["More bins and litter picking please", "A bigger play area"]}
    ).to_csv(table, index=False)
    monkeypatch.chdir(tmp_path)  # no workspace here
    invoke("code", "--model", str(model), "--comments", str(table), "--out", "coded.csv")
    coded = pd.read_csv(tmp_path / "coded.csv")
    assert "prob_play_areas" in coded.columns and len(coded) == 2
    # Q9's codebook differs: coding Q9 with Q4's model is refused, naming the themes
    shutil.rmtree(ws.paths(Q9).model_dir)
    shutil.copytree(model, ws.paths(Q9).model_dir)
    with pytest.raises(YousaidError, match=r"new in the codebook: .*accessibility"):
        BY_NAME["code"].run(ws, ws.question(Q9))


def test_stage_registry_matches_run_order():
    assert [s.name for s in STAGES] == ["ingest", "embed", "discover", "train", "code", "report"]


def test_evaluate_scores_the_questions_model(labelled_run):
    import json

    ws = load_workspace(labelled_run)
    output = invoke(
        "evaluate",
        "--workspace",
        str(labelled_run),
        "--question",
        Q4,
        "--labelled",
        str(ws.paths(Q4).labelled),
    )
    metrics = json.loads(output[output.index("{") :])
    assert metrics["n_labelled"] == 45 and 0 < metrics["micro"]["f1"] <= 1
    with pytest.raises(YousaidError, match="give --question ID"):
        invoke("evaluate", "--workspace", str(labelled_run), "--labelled", "x.csv")


def test_demo_second_question_goes_through_to_its_report(demo_ws):
    """`make run` reports both demo questions: the short one too, with its own audit sample."""
    q = demo_ws.question("feel_safer")
    outcome = BY_NAME["report"].run(demo_ws, q)
    html = outcome.outputs["report_html"].read_text(encoding="utf-8")
    assert q.text in html and "Is there anything missing" not in html
    assert "blind random audit sample" in html
