"""Discovery as a recipe of small steps, with and without a codebook, and the starter codebook.

A new question starts with no codebook: discovery must then propose every topic as a theme and
draft a codebook the analyst can edit. Two real BERTopic fits in this module (one per mode) plus
one repeat for determinism; everything else reads those results or checks pure steps on toy data.
Uses no shared fixtures, so it does not depend on how the CLI or the session run are set up.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pipeline import discovery_report as report  # noqa: E402
from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.discover import (  # noqa: E402
    CANDIDATE_COLUMNS,
    NEW,
    THEME_COLUMNS,
    DiscoverSettings,
    Discovery,
    discover,
    pick_examples,
    select_comments,
)
from pipeline.errors import YousaidError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMENTS = ROOT / "examples" / "policing" / "export" / "comments.csv"
CODEBOOK = ROOT / "examples" / "policing" / "missing" / "codebook.yaml"
MODEL = "all-MiniLM-L6-v2"
SEED = 42
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def model():
    from pipeline.embed import load_model

    return load_model(MODEL)


@pytest.fixture(scope="module")
def demo(model) -> tuple[pd.DataFrame, np.ndarray]:
    """The demo export with a simple substantive flag (more than three words), and its vectors."""
    from pipeline.embed import embed_texts

    if not COMMENTS.exists():
        pytest.skip(f"demo export not found at {COMMENTS}")
    comments = pd.read_csv(COMMENTS, dtype={"id": str})
    comments["text"] = comments["text"].fillna("").astype(str)
    comments["substantive"] = comments["text"].str.split().str.len() > 3
    vectors, _ = embed_texts(
        comments["text"].tolist(), MODEL, cache_dir=ROOT / ".cache" / "embeddings", progress=False
    )
    return comments, vectors


@pytest.fixture(scope="module")
def blank(demo) -> Discovery:
    """Fit 1: a new question, no codebook and no embedding model (nothing to embed)."""
    comments, vectors = demo
    frozen = vectors.copy()
    result = discover(comments, vectors, seed=SEED)
    np.testing.assert_array_equal(vectors, frozen)  # the caller's array is never modified
    return result


@pytest.fixture(scope="module")
def seeded(demo, model) -> Discovery:
    """Fit 2: the same comments with the analyst's codebook as zero-shot topics."""
    comments, vectors = demo
    return discover(comments, vectors, load_codebook(CODEBOOK), model, seed=SEED)


@pytest.fixture(scope="module")
def starter(blank) -> str:
    return report.starter_codebook(blank, question="What is missing from the plan?")


# --- without a codebook -------------------------------------------------------------------


def test_without_a_codebook_every_topic_is_new(blank, demo):
    comments, _ = demo
    t, s = blank.topics, blank.summary
    real = t[t["topic"] != -1]
    assert len(real) >= 5 and (real["theme_id"] == NEW).all()
    assert (t.loc[t["topic"] == -1, "theme_id"] == "").all()
    assert (t["nearest_theme"] == "").all() and (t["zeroshot_share"] == 0).all()
    assert s["codebook_themes"] == 0 and s["codebook_topics"] == 0
    assert s["themes_recovered"] == [] and s["themes_not_found"] == []
    assert s["new_topics"] == s["topics"] == len(real)
    assert s["zeroshot_assigned_share"] == 0
    a = blank.assignments
    assert a["id"].tolist() == comments.loc[comments["substantive"], "id"].tolist()
    assert (a["best_theme"] == "").all() and a["best_theme_similarity"].isna().all()
    assert set(a["assigned_by"]) <= {"cluster", "outlier", "outlier reassigned"}
    c = blank.candidates
    assert list(c.columns) == CANDIDATE_COLUMNS and len(c) >= 3
    assert (c["size"] >= s["candidate_min_size"]).all() and c["suggested_id"].is_unique


def test_starter_codebook_loads_as_a_codebook(starter, blank, tmp_path):
    path = tmp_path / "codebook.yaml"
    path.write_text(starter, encoding="utf-8")
    codebook = load_codebook(path)
    assert 2 <= len(codebook.ids) <= 15
    assert len(set(codebook.ids)) == len(codebook.ids)
    assert all(SLUG.match(i) for i in codebook.ids)
    assert codebook.question == "What is missing from the plan?"
    for theme in codebook.themes:
        assert theme.name and theme.name != theme.id
        assert theme.description.startswith('Draft from discovery: comments such as "')
        assert 3 <= len(theme.seeds) <= 8
    # largest topics first, the outlier group never a theme
    entries = yaml.safe_load(starter)["themes"]
    sizes = [int(re.search(r"(\d+) comments \(", e["description"]).group(1)) for e in entries]
    assert sizes == sorted(sizes, reverse=True)
    real = blank.topics[blank.topics["topic"] != -1]
    assert sizes == sorted(real["size"], reverse=True)[: len(sizes)]
    assert all("Outliers" not in e["name"] for e in entries)


def test_starter_codebook_header_says_it_is_a_draft(starter):
    header = "".join(line for line in starter.splitlines(True) if line.startswith("#"))
    assert "DRAFT written by `yousaid discover`" in header and "topics" in header
    for verb in ("rename", "merge", "delete", "describe"):
        assert verb in header, verb
    assert "before labelling" in header.lower()


def test_starter_quotes_are_short_and_cut_between_words(starter, blank):
    from pipeline.privacy import redact

    texts = {" ".join(redact(t).text.split()) for t in blank.examples["text"]}
    for entry in yaml.safe_load(starter)["themes"]:
        quotes = re.findall(r'"(.+?)"(?: and |\. )', entry["description"])
        assert 1 <= len(quotes) <= 2, entry["description"]
        for quote in quotes:
            assert len(quote) <= report.STARTER_QUOTE_CHARS
            if quote.endswith("…"):
                stem = quote[:-1]
                assert any(t.startswith(stem) and t[len(stem)] in " ,;:-(" for t in texts), quote
            else:
                assert quote in texts


def test_same_inputs_and_seed_give_byte_identical_starter_yaml(demo, starter):
    comments, vectors = demo
    again = discover(comments.copy(), vectors.copy(), seed=SEED)
    assert report.starter_codebook(again, question="What is missing from the plan?") == starter


def test_writers_work_without_a_codebook(blank, tmp_path):
    xlsx = report.write_xlsx(blank, tmp_path / "discovery.xlsx")
    assert (
        pd.read_excel(xlsx, sheet_name="topics")["topic"].tolist() == blank.topics["topic"].tolist()
    )
    page = report.write_html(blank, None, tmp_path / "discovery.html").read_text(encoding="utf-8")
    assert "0 codebook themes" in page and "Codebook themes found" not in page
    assert "Nearest existing theme" not in page
    for name in blank.candidates["suggested_name"]:
        assert name in page
    saved = report.write_json(blank, tmp_path / "discovery.json")
    assert json.loads(saved.read_text(encoding="utf-8"))["summary"]["codebook_themes"] == 0
    text = report.suggestions_yaml(report.read_candidates(saved))
    entries = yaml.safe_load(text)["themes"]
    assert len(entries) == len(blank.candidates)
    assert not any("nearest existing theme" in e["description"] for e in entries)


# --- with the codebook ----------------------------------------------------------------------


def test_with_the_codebook_most_themes_are_recovered(seeded):
    codebook = load_codebook(CODEBOOK)
    s = seeded.summary
    assert s["codebook_themes"] == len(codebook.ids)
    assert len(s["themes_recovered"]) >= len(codebook.ids) - 2, s["themes_not_found"]
    matched = seeded.topics[~seeded.topics["theme_id"].isin(["", NEW])]
    assert set(matched["theme_id"]) <= set(codebook.ids)
    assert s["codebook_topics"] == len(matched)
    assert not set(seeded.candidates["suggested_id"]) & set(codebook.ids)
    assert set(seeded.assignments["best_theme"]) <= set(codebook.ids)
    page = report.render_html(seeded, codebook)
    assert "Codebook themes found" in page and "0 codebook themes" not in page


# --- pure steps on toy data (no model) ------------------------------------------------------


def _toy(n: int, dim: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    texts = [f"comment number {i} about something" for i in range(n)]
    frame = pd.DataFrame({"id": range(n), "text": texts, "substantive": True})
    return frame, rng.normal(size=(n, dim)).astype(np.float32)


def test_select_comments_drops_non_answers_and_finds_copies():
    frame, vectors = _toy(25)
    frame.loc[3, "text"] = "  COMMENT number 1 about   something"  # a copy of row 1
    frame.loc[4, "substantive"] = False
    chosen = select_comments(frame, vectors)
    assert chosen.excluded == 1 and len(chosen.frame) == 24
    assert chosen.frame["id"].tolist()[:4] == ["0", "1", "2", "3"]
    assert len(chosen.first) == 23 and chosen.copy_of[3] == chosen.copy_of[1]
    assert chosen.spread(np.arange(23))[3] == 1
    np.testing.assert_allclose(np.linalg.norm(chosen.vectors, axis=1), 1, rtol=1e-5)
    with pytest.raises(YousaidError, match="25 comments but 24 embeddings"):
        select_comments(frame, vectors[:24])
    with pytest.raises(YousaidError, match="at least 20 different substantive comments, got 10"):
        select_comments(*_toy(10))


def test_a_codebook_needs_the_embedding_model():
    frame, vectors = _toy(25)
    with pytest.raises(YousaidError, match="needs the embedding model"):
        discover(frame, vectors, load_codebook(CODEBOOK), None, DiscoverSettings())


def test_pick_examples_nearest_first_one_per_text():
    texts = ["a", "b", "A", "c", "d"]
    closeness = np.array([0.9, 0.5, 0.95, 0.7, 0.7], dtype=np.float32)
    assert pick_examples(np.array([0, 1, 2, 3, 4]), closeness, texts, 3) == [2, 3, 4]
    assert pick_examples(np.array([1, 3]), closeness, texts, 5) == [3, 1]


def _fake(sizes: list[int], keywords: list[str], texts: list[str]) -> Discovery:
    """A Discovery with only what the starter codebook reads: topics, examples, a summary."""
    topics = pd.DataFrame(
        {
            "topic": list(range(-1, len(sizes) - 1)),
            "size": sizes,
            "share": [s / sum(sizes) for s in sizes],
            "keywords": keywords,
            "nearest_theme": "",
            "nearest_theme_share": 0.0,
        }
    )
    examples = pd.DataFrame(
        [
            {"topic": t, "rank": r, "id": f"c{t}{r}", "text": text}
            for t in topics["topic"]
            for r, text in enumerate(texts, start=1)
        ]
    )
    summary = {"topics": len(sizes) - 1, "comments": sum(sizes), "candidate_min_size": 5, "seed": 1}
    empty = pd.DataFrame()
    return Discovery(topics, examples, empty, empty, summary)


def test_starter_codebook_on_toy_topics(tmp_path):
    long = "Call me on 07700 900123 or write to jo@example.com about the " + "very " * 40 + "end"
    sizes = [50, *range(40, 20, -1), 3]  # outliers, twenty topics, one too small to keep
    keywords = ["people, police"] + ["knife, knife crime, stab, carry"] * 20 + ["tiny, small"]
    text = report.starter_codebook(_fake(sizes, keywords, [long, "Short one."]))
    path = tmp_path / "codebook.yaml"
    path.write_text(text, encoding="utf-8")
    codebook = load_codebook(path)
    assert len(codebook.ids) == report.STARTER_MAX_THEMES
    assert codebook.ids[:3] == ["knife_crime", "knife_crime_2", "knife_crime_3"]
    assert codebook.themes[0].name == "Knife crime and stab"
    assert "tiny" not in text and "people" not in codebook.themes[0].seeds
    description = codebook.themes[0].description
    assert "07700" not in description and "jo@example.com" not in description
    assert "[phone]" in description and "very…" in description and '"Short one."' in description
    assert "question" not in yaml.safe_load(text)


# --- names from keyphrases ------------------------------------------------------------------


def test_rank_phrases_prefers_distinctive_shared_phrases():
    from pipeline.keyphrases import phrase_name, rank_phrases

    knives = [{"knife crime", "police"}, {"knife crime", "stabbing"}, {"knife", "police"}]
    knives += [{"stabbing", "knife crime"}, {"one off"}]
    cars = [{"car meet", "police"}, {"car meet", "catalytic converter"}, {"police"}]
    ranked = rank_phrases({0: knives, 1: cars})
    # "police" is in both topics: it tells neither apart; "one off" is one comment's phrase
    assert [p for p, _ in ranked[0]] == ["knife crime", "stabbing"]
    assert ranked[0][0] == ("knife crime", 3)  # "knife crime" replaced its head word "knife"
    assert [p for p, _ in ranked[1]] == ["car meet"]
    assert phrase_name(ranked[0]) == "Knife crime"  # "stabbing" (2) is not nearly as common
    assert phrase_name([("mistake", 2), ("police station", 3)]) == "Police station"
    assert phrase_name([("car meet", 4), ("catalytic converter", 3)]) == (
        "Car meet and catalytic converter"
    )
    assert phrase_name([]) == ""


def test_keyphrases_are_lemmatised_noun_phrases_without_evaluative_words():
    from pipeline.keyphrases import comment_phrases

    got = comment_phrases(
        [
            "The Met were SO good. We want really great officers on the streets.",
            "Car meets every night in the retail parks, with modified cars racing.",
            "People are scared and the plan says nothing.",
            "Fly-tipping on the estate and e-scooters on the pavement.",
            "PC Janet Oduya on Uxbridge Road and the NHS were great.",
        ]
    )
    if got is None:
        pytest.skip("the spaCy model is not installed")
    assert "met" in got[0] and not {w for p in got[0] for w in p.split()} & {"good", "so"}
    assert "officer" in got[0]  # "really great officers": lemma, evaluative words dropped
    assert {"retail park", "modified car"} <= got[1]  # nouns as lemmas, other words as written
    assert not got[2] & {"people", "plan"}  # words every answer uses name nothing alone
    assert {"fly tipping", "e scooter", "estate"} <= got[3]  # hyphenated words kept whole
    words = {w for p in got[4] for w in p.split()}
    assert "nhs" in words and not words & {"janet", "oduya"}  # topic names name no one


def test_names_fall_back_to_keywords_without_a_shared_phrase():
    from pipeline.discover import topic_name, topic_slug

    assert topic_name("", "knife, knife crime, stab", 3) == "Knife crime and stab"
    assert topic_name("Car meet", "car, park", 3) == "Car meet"
    assert topic_slug("", "knife, knife crime", set()) == "knife_crime"
    assert topic_slug("car meet, catalytic converter", "car, park", {"car_meet"}) == "car_meet_2"
    assert topic_slug("moped, car", "car, park", set(), "Car and moped") == "car"


def test_new_topics_are_named_from_keyphrases(blank, seeded):
    from pipeline.keyphrases import EVALUATIVE

    for result in (blank, seeded):
        t = result.topics
        new = t[t["theme_id"] == NEW]
        assert (new["label"] == new["name"]).all()
        c = result.candidates.merge(t[["topic", "name", "phrases"]], on="topic")
        assert (c["suggested_name"] == c["name"]).all()
        named = c[c["phrases_x"] != ""]
        assert len(named) >= len(c) - 1  # nearly every candidate has a shared phrase
        for row in named.itertuples():
            lead = row.suggested_name.lower().split(" and ")[0]
            assert lead in row.phrases_x.split(", ")[:3]  # one of the three most distinctive
            assert row.suggested_id.startswith(re.sub(r"[^a-z0-9]+", "_", lead))
        words = {w for n in named["suggested_name"] for w in n.lower().split()}
        assert not words & EVALUATIVE, words
    starter = yaml.safe_load(report.starter_codebook(blank))["themes"]
    names = dict(zip(blank.topics["topic"], blank.topics["name"], strict=True))
    assert {e["name"] for e in starter} <= set(names.values())


# --- the roll-up and the counts read off it -------------------------------------------------


def _check_roll_up(result: Discovery, n_codebook: int) -> None:
    """Every count of the summary, JSON and page is a sum over the roll-up."""
    r, s, t = result.themes, result.summary, result.topics
    book = r[r["kind"] == "codebook"]
    assert list(r.columns) == THEME_COLUMNS
    assert len(book) == n_codebook == s["codebook_themes"]
    assert list(r["kind"].iloc[-2:]) == ["new", "outliers"]
    assert s["themes_recovered"] == book.loc[book["topics"] > 0, "theme_id"].tolist()
    assert s["themes_not_found"] == book.loc[book["topics"] == 0, "theme_id"].tolist()
    assert s["codebook_topics"] == book["topics"].sum() == (~t["theme_id"].isin(["", NEW])).sum()
    assert s["new_topics"] == r.loc[r["kind"] == "new", "topics"].sum()
    assert s["topics"] == s["codebook_topics"] + s["new_topics"] == (t["topic"] != -1).sum()
    assert s["comments"] == r["comments"].sum() == len(result.assignments) == t["size"].sum()
    assert r["share"].sum() == pytest.approx(1, abs=0.01)
    assert s["outlier_share"] == r.loc[r["kind"] == "outliers", "share"].item()
    for row in book.itertuples():
        mine = t[t["theme_id"] == row.theme_id]
        assert row.topics == len(mine) and row.comments == mine["size"].sum()
        ordered = mine.sort_values(["size", "topic"], ascending=[False, True])["name"]
        assert row.labels == "; ".join(ordered)
    page = report.render_html(result, load_codebook(CODEBOOK) if n_codebook else None)
    assert page.index("Topics per theme") < page.index("Summary") < page.index("All topics")
    if n_codebook:
        found = len(s["themes_recovered"])
        assert f"Codebook themes found: {found} of {n_codebook}, as {s['codebook_topics']}" in page
        assert f"{s['topics']} topics: {s['codebook_topics']} match codebook themes" in page
    else:
        assert f"all {s['topics']} topics are new" in page


def test_roll_up_with_and_without_the_codebook(seeded, blank, tmp_path):
    _check_roll_up(seeded, len(load_codebook(CODEBOOK).ids))
    _check_roll_up(blank, 0)
    xlsx = report.write_xlsx(seeded, tmp_path / "discovery.xlsx")
    from openpyxl import load_workbook

    assert load_workbook(xlsx).sheetnames[0] == "themes"
    sheet = pd.read_excel(xlsx, sheet_name="themes", keep_default_na=False)
    assert sheet["topics"].tolist() == seeded.themes["topics"].tolist()
    saved = json.loads(report.write_json(seeded, tmp_path / "d.json").read_text(encoding="utf-8"))
    assert list(saved)[:2] == ["summary", "themes"]
    assert [r["theme_id"] for r in saved["themes"]] == seeded.themes["theme_id"].tolist()


def test_page_counts_cannot_contradict_each_other():
    """A summary saying 0 found beside topics that match 2 themes: the page reads the topics."""
    codebook = load_codebook(CODEBOOK)
    a, b = codebook.ids[:2]
    topics = pd.DataFrame(
        {
            "topic": [-1, 0, 1, 2, 3],
            "label": ["Outliers (no topic)", "A", "A", "B", "Dogs"],
            "name": ["", "Stop and search", "Vetting", "Patrols", "Dangerous dog"],
            "size": [5, 10, 8, 6, 4],
            "share": [0.15, 0.3, 0.24, 0.18, 0.12],
            "theme_id": ["", a, a, b, NEW],
            "matched_by": ["outliers", "zero-shot", "zero-shot", "zero-shot", "none"],
            "keywords": ["x", "stop", "vet", "patrol", "dog"],
        }
    )
    wrong = {
        "comments": 99,
        "excluded_non_substantive": 0,
        "topics": 11,
        "codebook_topics": 11,
        "new_topics": 0,
        "candidates": 0,
        "themes_recovered": [],
        "themes_not_found": list(codebook.ids),
        "outlier_share_before_reduction": 0.2,
        "outlier_share": 0.5,
        "seed": 1,
        "min_topic_size": 3,
        "candidate_min_size": 5,
    }
    empty = pd.DataFrame(columns=["topic", "rank", "id", "text"])
    result = Discovery(
        topics, empty, pd.DataFrame(), pd.DataFrame(columns=CANDIDATE_COLUMNS), wrong
    )
    page = report.render_html(result, codebook)
    assert f"Codebook themes found: 2 of {len(codebook.ids)}, as 3 topics" in page
    assert "4 topics: 3 match codebook themes, 1 do not" in page
    assert "33 substantive comments" in page and "15.2% after reassigning" in page
    rolled = report.rolled_up(result, codebook)
    assert rolled.loc[rolled["theme_id"] == a, "labels"].item() == "Stop and search; Vetting"
