"""Theme discovery on the demo consultation with a planted theme the codebook lacks.

Two real BERTopic fits per session: `yousaid discover` (the CLI stage, writing its files) and the
same discovery through the Python API; they must agree topic for topic. Everything else reads
those two results or checks small pure functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO, copy_workspace
from openpyxl import load_workbook
from typer.testing import CliRunner

from pipeline import cli
from pipeline import discovery_report as report
from pipeline.codebook import load_codebook
from pipeline.discover import (
    CANDIDATE_COLUMNS,
    NEW,
    Discovery,
    _phrases,
    _slug,
    discover,
)
from pipeline.embed import read_embeddings
from pipeline.errors import YousaidError
from pipeline.keywords import keyword_vectorizer, lemmatise
from pipeline.settings import DiscoverSettings, Settings, parse
from pipeline.stages import BY_NAME
from pipeline.workspace import load_workspace

CODEBOOK = DEMO / "missing" / "codebook.yaml"

# Thirty varied answers about dangerous dogs: a topic the demo codebook has no theme for.
PLANTED = [
    "Dangerous dogs. An XL bully attacked my neighbour's little boy in the park, nothing happened.",
    "Nobody enforces the dog laws. Owners let huge dogs run off the lead on the estate.",
    "I was bitten by a dog on my way to work and the police said it was a civil matter.",
    "What about dog attacks? My spaniel was mauled by a staffie cross whose owner just walked off.",
    "Status dogs used to intimidate people on the stairwells of our block.",
    "The plan says nothing about dangerous dogs, which are a real fear for parents at the rec.",
    "Muzzles should be enforced for banned breeds. I see pit bull types every day unmuzzled.",
    "Dog fighting goes on in the garages behind our flats, you can hear it at night.",
    "Police need powers to seize aggressive dogs before someone gets killed.",
    "My elderly mum won't go to the park any more because of the out-of-control dogs there.",
    "Dog owners who let their animals attack other dogs should be prosecuted.",
    "Gangs breed bully dogs as weapons. Treat a dog attack like an assault with a weapon.",
    "A rottweiler went for my daughter outside the school gates. The owner laughed.",
    "Irresponsible dog ownership - unlicensed breeders selling aggressive puppies on Facebook.",
    "Please do something about the men walking four big dogs at once with no leads on the common.",
    "There have been three serious dog bites on our road this year, one child needed surgery.",
    "The dangerous dogs act is not enforced in London at all.",
    "Dogs off leads chasing joggers and cyclists along the canal towpath.",
    "We reported a dog that keeps attacking cats and small dogs, and heard nothing back.",
    "Dog attacks on postal workers and delivery drivers in our area have become common.",
    "Owners of dogs that bite should lose the right to keep dogs, full stop.",
    "I carry a stick now when I walk my own dog because of the aggressive dogs in the park.",
    "Specialist dog legislation officers: does the Met even have any left?",
    "Bull breeds kept as status symbols by young men who can't control them.",
    "A loose dog killed our neighbour's cat in front of their children.",
    "Ban XL bullies properly and check the exemption certificates.",
    "Dog walkers with too many dogs and no control of them are a menace to toddlers.",
    "Nothing on animal welfare or dangerous dog incidents, which the council says are rising.",
    "When a dog savaged my friend the police took four hours to arrive.",
    "Puppy farming and aggressive, badly bred dogs sold to people who cannot handle them.",
]
PLANTED_IDS = [f"PLANT-{i:02d}" for i in range(1, len(PLANTED) + 1)]


@pytest.fixture(scope="module")
def run_ws(tmp_path_factory):
    """The demo's `missing` question, its export plus the planted comments, ingested and embedded
    as the pipeline would."""
    if not (DEMO / "export" / "comments.csv").exists():
        pytest.skip(f"demo data not found at {DEMO / 'export'}")
    root = copy_workspace(DEMO, tmp_path_factory.mktemp("discover") / "ws")
    pd.DataFrame({"id": PLANTED_IDS, "text": PLANTED}).to_csv(
        root / "export" / "planted.csv", index=False
    )
    path = root / "consultation.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["source"]["files"] = ["export/comments.csv", "export/planted.csv"]
    config["questions"] = [q for q in config["questions"] if q["id"] == "missing"]
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    ws = load_workspace(root)
    for stage in ("ingest", "embed"):
        BY_NAME[stage].run(ws, ws.question("missing"))
    return ws


@pytest.fixture(scope="module")
def cli_outputs(run_ws) -> dict[str, Path]:
    """Fit 1: the `discover` stage as `yousaid run` calls it."""
    return BY_NAME["discover"].run(run_ws, run_ws.question("missing")).outputs


@pytest.fixture(scope="module")
def inputs(run_ws, embedding_model):
    paths = run_ws.paths("missing")
    comments = pd.read_parquet(paths.comments)
    vectors = np.array(read_embeddings(paths.embeddings, comments["id"].tolist()))
    return comments, vectors, load_codebook(paths.codebook)


@pytest.fixture(scope="module")
def result(inputs, run_ws, embedding_model, cli_outputs) -> Discovery:
    """Fit 2: the same discovery through the Python API (after fit 1, in the same process)."""
    from pipeline.privacy import redact_many, without_personal_data

    comments, vectors, codebook = inputs
    settings = run_ws.settings.discover
    frozen = vectors.copy()
    texts = comments["text"].astype(str).tolist()
    safe = without_personal_data(texts, redact_many(texts, progress=False))
    out = discover(
        comments,
        vectors,
        codebook,
        embedding_model,
        settings,
        seed=run_ws.settings.seed,
        safe_texts=safe,
    )
    np.testing.assert_array_equal(vectors, frozen)  # the caller's array is never modified
    return out


def test_same_input_and_seed_give_the_same_topics(result, cli_outputs):
    saved = json.loads(cli_outputs["discovery_json"].read_text(encoding="utf-8"))
    assert saved["summary"] == json.loads(json.dumps(result.summary))
    shared = report.shareable(result)  # what the files show: the same, redacted
    assert saved["candidates"] == json.loads(json.dumps(report.candidate_records(shared)))
    topics = pd.read_excel(cli_outputs["discovery_xlsx"], sheet_name="topics")
    assert topics["topic"].tolist() == result.topics["topic"].tolist()
    assert topics["size"].tolist() == result.topics["size"].tolist()
    assert topics["keywords"].tolist() == result.topics["keywords"].tolist()
    assert topics["representative_ids"].tolist() == result.topics["representative_ids"].tolist()
    assigned = pd.read_excel(
        cli_outputs["discovery_xlsx"], sheet_name="assignments", dtype={"id": str}
    )
    assert assigned["id"].tolist() == result.assignments["id"].tolist()
    assert assigned["topic"].tolist() == result.assignments["topic"].tolist()


def test_planted_theme_is_a_new_theme_candidate(result):
    planted = set(PLANTED_IDS)
    members = result.assignments.groupby("topic")["id"].apply(set)
    best = max(result.candidates["topic"], key=lambda t: len(members[t] & planted))
    row = result.candidates.set_index("topic").loc[best]
    caught = members[best] & planted
    assert len(caught) >= 20, f"only {len(caught)} of 30 planted comments in topic {best}"
    assert len(caught) / len(members[best]) >= 0.7, "the candidate is mostly other comments"
    assert "dog" in row["keywords"].split(", ")[:3]
    assert "dog" in row["suggested_id"]
    examples = result.examples[result.examples["topic"] == best]
    assert len(examples) == 5 and set(examples["id"]) <= planted
    theme = result.topics.set_index("topic").loc[best]
    assert theme["theme_id"] == NEW


def test_most_codebook_themes_are_recovered(result, inputs):
    _, _, codebook = inputs
    s = result.summary
    assert len(s["themes_recovered"]) >= len(codebook.ids) - 2, s["themes_not_found"]
    matched = result.topics[~result.topics["theme_id"].isin(["", NEW])]
    assert set(matched["theme_id"]) <= set(codebook.ids)
    zero_shot = matched[matched["matched_by"] == "zero-shot"]
    assert (zero_shot["zeroshot_share"] >= 0.5).all()


def test_only_substantive_comments_are_used(result, inputs):
    comments, _, _ = inputs
    substantive = comments.loc[comments["substantive"], "id"].tolist()
    assert result.assignments["id"].tolist() == substantive
    assert result.summary["excluded_non_substantive"] == int((~comments["substantive"]).sum())
    assert result.topics["size"].sum() == len(substantive)


def test_outliers_are_reported_and_reassigned_only_when_close(result):
    s = result.summary
    a = result.assignments
    assert s["outlier_share"] == round(float((a["topic"] == -1).mean()), 4)
    assert 0 <= s["outlier_share"] <= s["outlier_share_before_reduction"] < 0.5
    moved = a[a["assigned_by"] == "outlier reassigned"]
    assert (moved["topic"] != -1).all()
    assert (a.loc[a["topic"] == -1, "theme_id"] == "").all()


def test_identical_answers_share_a_topic(result):
    a = result.assignments
    key = a["text"].str.casefold().str.split().str.join(" ")
    assert key.duplicated().any() and result.summary["different_texts"] == key.nunique()
    assert (a.groupby(key)["topic"].nunique() == 1).all()


def test_topic_table_is_tidy(result):
    t = result.topics
    assert t["topic"].is_unique
    assert {"topic", "size", "keywords", "theme_id", "representative_ids"} <= set(t.columns)
    for row in t.itertuples():
        ids = row.representative_ids.split("|")
        assert 1 <= len(ids) <= 5 and len(ids) == len(set(ids))
        members = result.assignments.loc[result.assignments["topic"] == row.topic, "id"]
        assert set(ids) <= set(members)
        assert row.keywords and row.keywords == row.keywords.lower()


def test_workbook_opens_with_formatted_sheets(cli_outputs, result):
    wb = load_workbook(cli_outputs["discovery_xlsx"])
    assert wb.sheetnames[:4] == ["themes", "topics", "new_theme_candidates", "assignments"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert all(cell.font.b for cell in ws[1] if cell.value is not None)
    topics = wb["topics"]
    header = [c.value for c in topics[1]]
    assert {"size", "keywords", "theme_id", "example_1", "example_5"} <= set(header)
    assert topics.max_row == len(result.topics) + 1
    letter = topics.cell(1, header.index("example_1") + 1).column_letter
    assert 40 <= topics.column_dimensions[letter].width <= 80
    candidates = pd.read_excel(cli_outputs["discovery_xlsx"], sheet_name="new_theme_candidates")
    assert len(candidates) == len(result.candidates) >= 1
    assert candidates["example_1"].str.match(r"^\[[^\]]+\] ").all()
    html = cli_outputs["discovery_html"].read_text(encoding="utf-8")
    assert "New-theme candidates" in html and "<script" not in html
    for name in result.candidates["suggested_name"]:
        assert name in html


def test_codebook_suggest_writes_paste_ready_yaml(run_ws, cli_outputs, tmp_path):
    out = CliRunner().invoke(
        cli.app,
        ["codebook", "suggest", "--workspace", str(run_ws.root), "--question", "missing"],
    )
    if out.exception and not isinstance(out.exception, SystemExit):
        raise out.exception
    assert out.exit_code == 0, out.output
    paths = run_ws.paths("missing")
    written = paths.suggestions
    text = written.read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["themes"]
    # stdout names the file written; the same paste-ready text is shown on stderr
    assert entries and out.stdout.strip() == str(written)
    assert text.strip() in out.stderr
    codebook = load_codebook(paths.codebook)
    for entry in entries:
        assert entry["id"] not in codebook.ids
        assert entry["description"].startswith("DRAFT") and entry["seeds"] and entry["examples"]
    assert any("dog" in e["id"] for e in entries)
    # pasted under `themes:`, the entries make a codebook that still loads
    merged = yaml.safe_load(paths.codebook.read_text(encoding="utf-8"))
    merged["themes"] += entries
    (tmp_path / "codebook.yaml").write_text(yaml.safe_dump(merged), encoding="utf-8")
    grown = load_codebook(tmp_path / "codebook.yaml")
    assert len(grown.ids) == len(codebook.ids) + len(entries)


# --- small pure parts (no model) --------------------------------------------------------------


def test_settings_scale_with_the_number_of_comments():
    s = DiscoverSettings()
    assert s.cluster_size(500) == 11 and s.cluster_size(5_000) == 35
    assert s.cluster_size(40) == 8 and s.cluster_size(1_000_000) == 60
    assert s.samples(500) == 5 and s.candidate_size(500) == 11
    fixed = parse(DiscoverSettings, {"min_topic_size": 20, "stop_words": None}, "x.yaml")
    assert fixed.cluster_size(5_000) == 20 and fixed.stop_words == ()
    with pytest.raises(YousaidError, match="unknown key 'discover.min_topic_sise'"):
        parse(Settings, {"discover": {"min_topic_sise": 20}}, "x.yaml")


def test_too_few_comments_is_a_clear_error(embedding_model):
    comments = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "substantive": [True, True]})
    codebook = load_codebook(CODEBOOK)
    with pytest.raises(YousaidError, match="at least 20 different substantive comments, got 2"):
        discover(comments, np.eye(2, 384, dtype=np.float32), codebook, embedding_model)
    # thirty copies of five answers are still only five different comments
    texts = [f"answer {i % 5}" for i in range(30)]
    many = pd.DataFrame({"id": [str(i) for i in range(30)], "text": texts, "substantive": True})
    with pytest.raises(YousaidError, match="got 5"):
        discover(many, np.eye(30, 384, dtype=np.float32), codebook, embedding_model)
    with pytest.raises(YousaidError, match="2 comments but 3 embeddings"):
        discover(comments, np.eye(3, 384, dtype=np.float32), codebook, embedding_model)


def test_keywords_are_lemmas_without_stop_words():
    assert lemmatise("The stations were CLOSED and we need more Bobbies!") == [
        "station",
        "close",
        "bobby",
    ]
    assert lemmatise("Weed smell, fly-tipping; the Met police") == [
        "weed",
        "smell",
        "fly",
        "tip",
        "met",
        "police",
    ]
    vectorizer = keyword_vectorizer(extra_stop_words=["smell"])
    vectorizer.fit(["weed smell everywhere", "knives and knife crime"])
    assert "knife crime" in vectorizer.get_feature_names_out()
    assert "smell" not in vectorizer.get_feature_names_out()


def test_candidate_names_and_slugs():
    assert _phrases(["knife", "knife crime", "stab", "carry"]) == ["knife crime", "stab"]
    assert _phrases(["meet", "listen", "good listen", "meet good"]) == ["meet", "good listen"]
    taken = {"knife_crime"}
    assert _slug(["knife", "knife crime", "stab"], taken) == "knife_crime_2"
    assert _slug(["20mph", "limit"], taken) == "t_20mph"
    assert _slug([], taken) == "new_theme"


def test_html_and_excel_neutralise_hostile_text(tmp_path):
    codebook = load_codebook(CODEBOOK)
    hostile = "<script>alert('x')</script> & =HYPERLINK(\"http://evil\")"
    topics = pd.DataFrame(
        [
            {
                "topic": 0,
                "label": "<b>dogs</b>",
                "name": "<b>dogs</b>",
                "size": 1,
                "share": 1.0,
                "theme_id": NEW,
                "matched_by": "none",
                "nearest_theme": "drugs",
                "nearest_theme_share": 0.2,
                "zeroshot_share": 0.0,
                "keywords": "dog, <i>bite</i>",
                "phrases": "<i>dog bite</i>",
                "representative_ids": "=1+1",
            }
        ]
    )
    examples = pd.DataFrame([{"topic": 0, "rank": 1, "id": "=1+1", "text": hostile}])
    candidates = topics.assign(suggested_id="dog", suggested_name="<dogs>", cohesion=0.5)[
        CANDIDATE_COLUMNS
    ]
    assignments = pd.DataFrame({"id": ["=1+1"], "topic": [0], "text": ["=SUM(A1:A9)"]})
    summary = {
        "comments": 1,
        "excluded_non_substantive": 0,
        "topics": 1,
        "codebook_topics": 0,
        "new_topics": 1,
        "candidates": 1,
        "themes_recovered": [],
        "themes_not_found": ["x"],
        "outlier_share_before_reduction": 0.0,
        "outlier_share": 0.0,
        "seed": 1,
        "min_topic_size": 8,
        "candidate_min_size": 8,
    }
    result = Discovery(topics, examples, assignments, candidates, summary)
    html = report.render_html(result, codebook)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>dogs</b>" not in html and "&lt;dogs&gt;" in html
    path = report.write_xlsx(result, tmp_path / "d.xlsx")
    sheets = load_workbook(path).worksheets
    cells = [c.value for ws in sheets for row in ws.iter_rows() for c in row]
    texts = [v for v in cells if isinstance(v, str)]
    assert not [v for v in texts if v.startswith(("=", "+", "@"))]
    assert "'=SUM(A1:A9)" in texts
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


@pytest.fixture(scope="module", autouse=True)
def _no_stray_outputs():
    """Discovery in tests must never write into the demo workspace in the repository."""
    demo = load_workspace(DEMO)
    targets = [demo.paths(q).discovery_json for q in demo.config.questions]

    def mtimes() -> list[float | None]:
        return [t.stat().st_mtime if t.exists() else None for t in targets]

    before = mtimes()
    yield
    assert mtimes() == before


PERSONAL = ("Oduya", "janet.oduya@examplemail.co.uk", "k.adeyemi88@gmail.com", "07911 123456")


def test_discovery_files_name_no_one(cli_outputs):
    """The demo plants personal data; the discovery workbook, page and JSON show it redacted."""
    from openpyxl import load_workbook

    texts = [
        cli_outputs["discovery_html"].read_text(encoding="utf-8"),
        cli_outputs["discovery_json"].read_text(encoding="utf-8"),
    ]
    wb = load_workbook(cli_outputs["discovery_xlsx"])
    texts += [str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row]
    everything = "\n".join(texts)
    assert "[email]" in everything and "[name]" in everything  # the planted comments are there
    for item in PERSONAL:
        assert item not in everything


def _varied(subjects: list[str], frames: list[str]) -> list[str]:
    return [f.format(s) for s in subjects for f in frames]


def test_topic_names_and_keywords_name_no_one(embedding_model):
    """A topic whose comments all name one person and one address: its keywords, phrases and
    name come from the comments with personal data cut out (a street alone is a place, kept).
    c-TF-IDF keywords have no name filter of their own, so without the cut the surname is a
    keyword (checked first)."""
    from pipeline.privacy import redact_many, without_personal_data

    lamps = _varied(
        ["Mr Hartigan", "Mrs Hartigan", "Dr Hartigan", "Ms Hartigan"],
        [
            "The street lamps are broken, {} at 14 Wexcombe Road has complained for months",
            "{} of 14 Wexcombe Road says the lamps have been out since the winter",
            "Nobody fixes the dark street lights, ask {} who lives at 14 Wexcombe Road",
            "Broken lamp posts near 14 Wexcombe Road, {} reported them twice",
            "{} at 14 Wexcombe Road: the street lighting is out and the road is pitch black",
            "Dark streets by 14 Wexcombe Road, {} fell because the lamps do not work",
        ],
    )
    buses = _varied(
        ["night buses", "the late buses", "the N29 buses", "weekend buses"],
        [
            "Assaults on {} are common and the drivers cannot do anything",
            "I do not feel safe on {} after midnight because of drunk passengers",
            "More police patrols are needed on {} where fights break out",
            "Anti-social behaviour on {} goes unpunished every weekend",
            "Young people smoking and shouting on {} scare older passengers",
            "{} need CCTV that actually works and someone watching it",
        ],
    )
    texts = lamps + buses
    comments = pd.DataFrame(
        {"id": [f"c{i}" for i in range(len(texts))], "text": texts, "substantive": True}
    )
    vectors = embedding_model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    settings = DiscoverSettings()

    def shown(result: Discovery) -> str:
        columns = ["label", "name", "keywords", "phrases"]
        topics = result.topics[columns].astype(str).to_numpy().ravel()
        starter = report.starter_codebook(result, "What is missing?")
        return " ".join([*topics, starter]).lower()

    plain = discover(comments, vectors, None, embedding_model, settings, seed=3)
    assert "hartigan" in shown(plain) or "wexcombe" in shown(plain)

    safe = without_personal_data(texts, redact_many(texts, progress=False))
    result = discover(comments, vectors, None, embedding_model, settings, seed=3, safe_texts=safe)
    names = shown(result)
    assert "lamp" in names or "light" in names  # what they said still names the topic
    for private in ("hartigan", "wexcombe", "14"):
        assert private not in names.replace("[", " ").split() and private not in names
    # the examples are the original comments, redacted when the result is made shareable
    assert any("Hartigan" in t for t in result.examples["text"])
    shared = report.shareable(result)
    assert not any("Hartigan" in t for t in shared.examples["text"])
