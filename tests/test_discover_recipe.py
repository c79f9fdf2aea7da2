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
