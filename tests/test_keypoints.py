"""The "you said" narrative: key points per theme, emerging themes outside the codebook, the
analyst's own paragraph, and promoting an emerging theme into the codebook."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DEMO, copy_workspace

from pipeline.columns import code_col

ANALYST = "Women told us, above all, that they do not feel safe at night. (Analyst's text.)"


@pytest.fixture(scope="module")
def narrative(demo_run, tmp_path_factory):
    """The demo report, built once, with an analyst's paragraph for one theme in summaries.yaml."""
    from pipeline.codebook import load_codebook
    from pipeline.report import assemble, write_outputs
    from pipeline.report.inputs import (
        apply_hand_labels,
        load_embeddings,
        read_coded,
        read_hand_labels,
        read_summaries,
    )
    from pipeline.settings import ReportSettings

    tmp = tmp_path_factory.mktemp("narrative")
    summaries = tmp / "summaries.yaml"
    summaries.write_text(
        "# the analyst's own words\nsummaries:\n  vawg: " + json.dumps(ANALYST) + "\n",
        encoding="utf-8",
    )
    before = summaries.read_bytes()
    book = load_codebook(demo_run["codebook"])
    coded = read_coded(demo_run["coded"], book)
    labelled = read_hand_labels(demo_run["labelled"], book)
    data = assemble(
        coded,
        book,
        labelled=labelled,
        embeddings=load_embeddings(demo_run["embeddings"], coded["id"].tolist()),
        summaries=read_summaries(summaries, book),
        cfg=ReportSettings(bootstrap=100),
    )
    paths = write_outputs(data, tmp / "reports")
    return {
        "data": data,
        "paths": paths,
        "frame": apply_hand_labels(coded, labelled, book),
        "book": book,
        "summaries": summaries,
        "before": before,
    }


def test_key_points_cover_each_theme_once(narrative):
    data, frame = narrative["data"], narrative["frame"]
    sub = frame[frame["substantive"]]
    for t in data.order:
        points = data.points_for(t)
        ids = [i for ids in points["ids"] for i in ids]
        expected = set(sub.loc[sub[code_col(t)] == 1, "id"])
        assert len(ids) == len(set(ids)) == len(expected), t
        assert set(ids) == expected, t
        assert points["n"].sum() == len(expected)
        assert len(points) <= 8
        if len(expected) >= 12:
            assert len(points) >= 3, t
        elif len(expected) < 6:
            assert len(points) == 1, t


def test_key_point_labels_are_phrases_with_quotes(narrative):
    points = narrative["data"].key_points
    multi = points["keyphrases"].map(lambda ps: bool(ps) and " " in ps[0])
    assert multi.mean() >= 0.5, points[["theme_id", "label"]]
    assert (points["label"].str.len() > 0).all()
    assert (points["quote"] != "").mean() > 0.9
    drafts = narrative["data"].drafts
    assert drafts["drugs"].startswith("Comments on drugs most often raised")


def test_planted_off_codebook_topic_emerges(narrative):
    gold = pd.read_csv(DEMO / "export" / "gold.csv", dtype=str).fillna("")
    knife = set(gold.loc[gold["uncoded_topic"] == "knife_crime", "id"])
    assert len(knife) >= 20
    emerging = narrative["data"].emerging
    hits = [len(knife & set(ids)) for ids in emerging["ids"]]
    best = int(np.argmax(hits))
    assert hits[best] >= 0.7 * len(knife)
    assert "knife" in emerging["label"].iloc[best].lower()
    assert emerging["n"].iloc[best] <= 1.3 * len(knife)  # a cluster of its own, not a catch-all
    saved = json.loads(narrative["paths"]["emerging"].read_text(encoding="utf-8"))
    assert saved[best]["label"] == emerging["label"].iloc[best]
    assert set(saved[best]["example_ids"]) <= set(emerging["ids"].iloc[best])
    assert "text" not in saved[best]


def test_every_output_shows_key_points_and_other_issues(narrative):
    from docx import Document
    from openpyxl import load_workbook

    paths, data = narrative["paths"], narrative["data"]
    label = data.emerging["label"].iloc[0]
    point = data.points_for("drugs")["label"].iloc[0]
    html = paths["html"].read_text(encoding="utf-8")
    md = paths["md"].read_text(encoding="utf-8")
    doc = "\n".join(p.text for p in Document(str(paths["docx"])).paragraphs)
    for text in (html, md, doc):
        assert "Other issues raised" in text
        assert label in text
        assert point in text
        assert "Draft" in text
    assert "Key points" in html
    wb = load_workbook(paths["xlsx"])
    assert {"Key points", "Other issues raised"} <= set(wb.sheetnames)
    rows = list(wb["Key points"].values)
    assert sum(r[2] for r in rows[1:]) == data.key_points["n"].sum()


def test_analyst_paragraph_replaces_draft_and_is_never_written(narrative):
    data, paths = narrative["data"], narrative["paths"]
    assert data.summary_for("vawg") == (ANALYST, False)
    assert data.summary_for("drugs")[1] is True
    md = paths["md"].read_text(encoding="utf-8")
    name = data.names["vawg"]
    head = next(h for h in md.split("\n## ") if h.split("\n")[0].endswith(name))
    assert "Women told us, above all" in head
    assert "*Draft" not in head  # the analyst's paragraph replaces the draft
    assert "*Draft" in next(h for h in md.split("\n## ") if h.split("\n")[0].endswith("Drugs"))
    assert narrative["summaries"].read_bytes() == narrative["before"]  # the report never writes it


def test_report_stage_reads_summaries_from_the_workspace(demo_run):
    from pipeline.stages import BY_NAME

    assert demo_run["paths"].summaries.name == "summaries.yaml"
    assert "summaries" in BY_NAME["report"].deps


def test_small_theme_gets_one_point():
    from pipeline.report.keypoints import choose_k, cluster

    assert choose_k(4) == (1,)
    assert choose_k(9) == (2,)
    assert min(choose_k(40)) == 3 and max(choose_k(400)) == 8
    rng = np.random.default_rng(0)
    x = np.vstack([np.eye(5)[c] * 3 + rng.normal(0, 0.1, size=(10, 5)) for c in (0, 1, 2)])
    labels = cluster(x, choose_k(len(x)), seed=0)
    assert sorted(np.bincount(labels)) == [10, 10, 10]


def test_codebook_promote_adds_a_loadable_theme(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.codebook import load_codebook

    root = copy_workspace(DEMO, tmp_path / "ws")
    book_path = root / "missing" / "codebook.yaml"
    original = book_path.read_text(encoding="utf-8")
    reports = root / "missing" / "reports"
    reports.mkdir(parents=True)
    cluster = {
        "cluster": 1,
        "label": "Knife crime; youth violence",
        "size": 25,
        "keyphrases": ["knife crime", "youth violence", "stabbing"],
        "example_ids": ["TL-0001"],
    }
    (reports / "emerging.json").write_text(json.dumps([cluster]), encoding="utf-8")
    args = ["codebook", "promote", "1", "--workspace", str(root), "--question", "missing"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "label push" in out.output
    text = book_path.read_text(encoding="utf-8")
    assert text.startswith(original)  # the analyst's file, comments and all, is untouched
    book = load_codebook(book_path)
    theme = book.by_id["knife_crime_youth_violence"]
    assert theme.seeds == ("knife crime", "youth violence", "stabbing")
    assert "DRAFT" in theme.description
    assert len(book.themes) == len(yaml.safe_load(original)["themes"]) + 1
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0
    assert "already in the codebook" in str(again.exception)
    assert book_path.read_text(encoding="utf-8") == text


def test_key_phrases_are_the_same_from_spacy_workers(monkeypatch):
    """Parsing a large batch in worker processes (and each distinct text once) changes no phrase."""
    from pathlib import Path

    from pipeline import workers
    from pipeline.keyphrases import comment_phrases

    if workers.spacy_workers(10**9) < 2:
        pytest.skip("spaCy workers are used only with fork and two cores or more")
    demo = Path(__file__).resolve().parents[1] / "examples" / "policing" / "export" / "comments.csv"
    texts = pd.read_csv(demo, dtype=str)["text"].fillna("").tolist()[:300]
    texts += texts[:20]  # repeated answers, as real exports have
    monkeypatch.setattr(workers, "PARALLEL_FROM", 10**9)
    alone = comment_phrases(texts)
    monkeypatch.setattr(workers, "PARALLEL_FROM", 50)
    assert workers.spacy_workers(len(set(texts))) >= 2
    together = comment_phrases(texts)
    assert together == alone
    assert sum(map(len, together)) > 300


def test_phrase_sample_is_uniform_and_covers_every_point():
    """Large themes name their points from a seeded sample; small ones from every comment."""
    from pipeline.report.keypoints import MIN_PER_POINT, PHRASE_SAMPLE, phrase_sample

    small = np.repeat(np.arange(3), 100)
    assert phrase_sample(small).tolist() == list(range(300))
    rng = np.random.default_rng(0)
    labels = rng.choice(4, size=20_000, p=[0.6, 0.3, 0.0995, 0.0005])  # a point of about 10
    pos = phrase_sample(labels, seed=7)
    assert pos.tolist() == phrase_sample(labels, seed=7).tolist()
    assert pos.tolist() != phrase_sample(labels, seed=8).tolist()
    assert PHRASE_SAMPLE <= len(pos) <= PHRASE_SAMPLE + 4 * MIN_PER_POINT
    picked = np.bincount(labels[pos], minlength=4)
    assert picked[3] == (labels == 3).sum()  # the tiny point keeps all its comments
    share = picked[:2] / len(pos)
    assert np.allclose(share, [0.6, 0.3], atol=0.03)  # the large ones in proportion


def _topic(rng, n: int, dim: int, spread: float) -> np.ndarray:
    centre = rng.normal(size=dim)
    return centre / np.linalg.norm(centre) + rng.normal(scale=spread, size=(n, dim))


@pytest.mark.parametrize("scale", [1.0, 4.0])  # 4: every similarity shifted up, as a static model's
def test_topic_groups_find_topics_among_unrelated_comments(scale):
    from pipeline.report.keypoints import topic_groups

    rng = np.random.default_rng(7)
    dim = 384  # as MiniLM's: random directions there are far apart
    tight, loose = _topic(rng, 30, dim, 0.05), _topic(rng, 15, dim, 0.07)
    noise = rng.normal(size=(150, dim))
    shared = rng.normal(size=dim) * scale / np.sqrt(dim)  # a direction every comment shares
    x = np.vstack([tight, loose, noise])
    x = x / np.linalg.norm(x, axis=1, keepdims=True) + shared
    groups = topic_groups(x)
    assert set(groups[:30]) == {0}  # the tight topic is the largest group, whole
    assert (groups == 0).sum() <= 33  # and at most a stray unrelated comment joined it
    assert len(set(groups[30:45])) == 1 and groups[30] == 1
    sizes = np.bincount(groups[groups >= 0])
    assert sizes.min() >= 2  # a lone comment is in no group
    # elsewhere unrelated comments meet only in small groups, by chance, far below either topic
    assert sizes[2:].max() <= 6


def test_topic_groups_from_a_sample_assign_the_rest_alike():
    from pipeline.report.keypoints import topic_groups

    rng = np.random.default_rng(3)
    x = np.vstack([_topic(rng, 120, 384, 0.05), rng.normal(size=(200, 384))])
    whole, sampled = topic_groups(x), topic_groups(x, sample=100, seed=5)
    assert (sampled[:120] == 0).all() and (whole[:120] == 0).all()
    sizes = np.bincount(sampled[sampled >= 0])
    assert sizes[0] == 120 and sizes[1:].max(initial=0) <= 6
    assert (topic_groups(x, sample=100, seed=5) == sampled).all()  # seeded: the same each time


def test_topic_groups_keep_identical_comments_together():
    from pipeline.report.keypoints import topic_groups

    same = np.tile(np.arange(1.0, 9.0), (12, 1))
    assert (topic_groups(same) == 0).all()
    assert (topic_groups(same[:1]) == -1).all()


def test_point_and_group_labels_name_no_one():
    """Labels are shown like quotes: a name or address that many comments share, which spaCy's
    own name filter lets through, must not name a point or a group."""
    from pipeline.privacy import redact_many, without_personal_data
    from pipeline.report.keypoints import emerging, key_points
    from pipeline.report.quotes import QuoteConfig

    said = [
        "Ask Mr Okonkwo at the bowls club about the toilets",
        "Mr Okonkwo at the bowls club knows the toilets are locked",
        "The toilets by the bowls club, ask Mr Okonkwo",
        "I live at 22 Acacia Avenue and the toilets are shut",
        "Toilets shut again, 22 Acacia Avenue here",
        "From 22 Acacia Avenue: open the toilets",
    ]
    other = [f"Parking by gate {i} costs too much" for i in range(20)]
    texts = said * 3 + other
    frame = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(len(texts))],
            "text": texts,
            "substantive": True,
            code_col("toilets"): [1] * 9 + [0] * 29,
        }
    )
    rng = np.random.default_rng(0)  # the nine uncoded "said" comments alike, the rest not
    vectors = np.vstack([_topic(rng, 18, 384, 0.03), rng.normal(size=(20, 384))])
    safe = without_personal_data(texts, redact_many(texts, progress=False))
    points = key_points(frame, ["toilets"], None, QuoteConfig(), safe)
    groups = emerging(frame, ["toilets"], vectors, QuoteConfig(), safe, min_size=3)
    assert len(points) and len(groups)
    shown = " | ".join(
        p for phrases in [*points["keyphrases"], *groups["keyphrases"]] for p in phrases
    )
    shown += " | " + " | ".join([*points["label"], *groups["label"]]).lower()
    assert "bowls club" in shown or "bowl club" in shown  # what they said is still named
    for private in ("okonkwo", "acacia"):
        assert private not in shown


def test_without_personal_data_cuts_each_finding_out():
    from pipeline.privacy import Finding, Redaction, without_personal_data

    text = "Ask Mr Okonkwo at 22 Acacia Avenue about the lamp"
    red = Redaction(
        "Ask Mr [name] at [address] about the lamp",
        (Finding("name", "Okonkwo", 7, 14), Finding("address", "22 Acacia Avenue", 18, 34)),
    )
    safe = without_personal_data([text, None], [red, Redaction("")])
    assert safe == ["Ask Mr  ,  at  ,  about the lamp", ""]
