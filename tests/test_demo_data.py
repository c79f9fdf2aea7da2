"""The embedded demo consultation agrees with itself: comments, gold labels, codebook, the Label
Studio export and the labelled table derived from it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import DEMO

from pipeline.codebook import load_codebook
from pipeline.ingest import ingest
from pipeline.labelled import read_labelled, split_labels

COMMENTS = DEMO / "export" / "comments.csv"
GOLD = DEMO / "export" / "gold.csv"
CODEBOOK = DEMO / "missing" / "codebook.yaml"
EXPORT = DEMO / "missing" / "labels" / "label_studio_export_demo.json"
LABELLED = DEMO / "missing" / "labels" / "labelled.csv"

POLLS = ("poll_representative", "poll_boost")


@pytest.fixture(scope="module")
def ingested():
    return ingest([COMMENTS])


@pytest.fixture(scope="module")
def comments(ingested) -> pd.DataFrame:
    return ingested.comments


@pytest.fixture(scope="module")
def gold() -> pd.DataFrame:
    return pd.read_csv(GOLD, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


def test_demo_ingests_without_rejection(ingested):
    s = ingested.summary
    assert s["rejected"] == 0 and ingested.rejected.empty
    assert s["rows_read"] == len(ingested.comments) == 570
    assert ingested.encodings == {str(COMMENTS): "utf-8"}
    assert ingested.comments["id"].is_unique


def test_demo_size_and_routes(comments):
    assert len(comments) >= 500
    assert set(comments["route"]) == {"talk_london", *POLLS}
    counts = comments["route"].value_counts()
    assert all(counts[r] >= 100 for r in ("talk_london", *POLLS))


def test_demo_metadata_columns(comments):
    for col in ("route", "age_band", "gender", "ethnicity", "borough", "inner_outer", "weight"):
        assert col in comments.columns
    for col in ("age_band", "gender", "ethnicity", "borough"):
        assert comments[col].str.strip().ne("").all(), col
    assert set(comments["inner_outer"]) == {"Inner", "Outer"}


def test_weights_for_polls_only(comments):
    polls = comments["route"].isin(POLLS)
    assert comments["weight"].dtype == float
    assert comments.loc[polls, "weight"].notna().all()
    assert (comments.loc[polls, "weight"] > 0).all()
    assert comments.loc[~polls, "weight"].isna().all()


def test_gold_covers_every_comment_once(comments, gold):
    assert gold["id"].is_unique
    assert set(gold["id"]) == set(comments["id"])
    assert list(gold.columns[:3]) == ["id", "labels", "stance"]


def test_gold_theme_ids_exist_in_codebook(gold, codebook):
    used = {t for value in gold["labels"] for t in split_labels(value)}
    assert used <= set(codebook.ids), used - set(codebook.ids)
    assert used == set(codebook.ids)  # every theme has examples in the demo


def test_station_closures_imply_officers_visibility(gold, codebook):
    assert codebook.by_id["station_closures"].group == "officers_visibility"
    sets = gold["labels"].map(lambda v: set(split_labels(v)))
    closures = sets[sets.map(lambda s: "station_closures" in s)]
    assert len(closures) > 0
    assert closures.map(lambda s: "officers_visibility" in s).all()


def test_drugs_rows_have_a_stance(gold, codebook):
    stances = {f"drugs:{s.id}" for s in codebook.by_id["drugs"].stances}
    is_drugs = gold["labels"].map(lambda v: "drugs" in split_labels(v))
    assert is_drugs.sum() > 0
    drug_stances = gold.loc[is_drugs, "stance"].map(split_labels)
    assert drug_stances.map(lambda s: len(s) == 1 and s[0] in stances).all()
    assert set(drug_stances.map(lambda s: s[0])) == stances  # both sides are there
    assert gold.loc[~is_drugs, "stance"].eq("").all()  # and no stance without the theme


def test_non_answer_share(comments, gold):
    share = 1 - comments["substantive"].mean()
    assert 0.08 <= share <= 0.12, share
    # the detector never sets aside a comment the gold labels code to a theme
    flagged = set(comments.loc[~comments["substantive"], "id"])
    coded = set(gold.loc[gold["labels"].ne(""), "id"])
    assert not flagged & coded


def test_label_studio_export_ids_exist(comments):
    tasks = json.loads(EXPORT.read_text(encoding="utf-8"))
    by_id = comments.set_index("id")["text_original"]
    ids = [str(t["data"]["id"]) for t in tasks]
    assert len(ids) >= 150 and len(set(ids)) == len(ids)
    assert set(ids) <= set(by_id.index)
    assert all(t["data"]["text"] == by_id[str(t["data"]["id"])] for t in tasks)


def test_labelled_csv_ids_exist(comments):
    labelled = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    assert labelled["id"].is_unique
    assert set(labelled["id"]) <= set(comments["id"])
    substantive = set(comments.loc[comments["substantive"], "id"])
    assert set(labelled["id"]) <= substantive


def test_labelled_csv_is_the_label_studio_export(codebook):
    from_export = read_labelled(EXPORT, codebook).drop(columns="source_row")
    table = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    assert list(table.columns) == list(from_export.columns)
    flags = read_labelled(LABELLED, codebook)
    for col in table.columns:
        if col in ("weight", "audit_population"):
            a = pd.to_numeric(table[col].replace("", None))
            pd.testing.assert_series_equal(a, from_export[col].astype(float), check_names=False)
        elif col in ("suggestion_changed", "explicit_none"):
            pd.testing.assert_series_equal(flags[col], from_export[col], check_names=False)
        else:
            assert table[col].tolist() == from_export[col].astype(str).tolist(), col


def test_demo_labels_hold_a_blind_random_audit_sample(comments):
    """missing: 200 train labels (a first random batch, no suggestions shown) and 80 audit labels
    drawn at random from the other substantive comments; feel_safer: 120 train, 40 audit."""
    from pipeline.labelled import stream_summary
    from pipeline.select import audit_sample

    book = load_codebook(CODEBOOK)
    missing = read_labelled(LABELLED, book)
    assert stream_summary(missing) == {
        "audit": 80,
        "train": 200,
        "train_with_suggestion": 0,
        "accepted_unchanged": None,
    }
    audit = missing[missing["sample"] == "audit"]
    train_ids = missing.loc[missing["sample"] == "train", "id"]
    redraw = audit_sample(comments, 80, train_ids, seed=42)
    assert set(audit["id"]) == set(comments.iloc[redraw.rows]["id"])
    assert redraw.population == 313 and audit["audit_population"].eq(313).all()
    assert audit["explicit_none"].sum() == (audit["labels"] == "").sum() > 0
    tasks = json.loads(EXPORT.read_text(encoding="utf-8"))
    assert all(not t["predictions"] for t in tasks if t["data"].get("sample") == "audit")

    feel = DEMO / "feel_safer"
    safer = read_labelled(feel / "labels" / "labelled.csv", load_codebook(feel / "codebook.yaml"))
    assert safer["sample"].value_counts().to_dict() == {"train": 120, "audit": 40}
    assert safer.loc[safer["sample"] == "audit", "audit_population"].eq(290).all()


def test_labelled_agrees_mostly_with_gold(gold):
    """An analyst's labels are not the gold, but they are close to it."""
    labelled = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    merged = labelled.merge(gold, on="id", suffixes=("", "_gold"))
    same = merged["labels"].map(lambda v: set(split_labels(v))) == merged["labels_gold"].map(
        lambda v: set(split_labels(v))
    )
    assert same.mean() >= 0.8


def test_codebook(codebook):
    assert len(codebook.themes) == 12
    for theme in codebook.themes:
        assert theme.name.strip() and theme.name != theme.id, theme.id
        assert len(theme.description) >= 150, theme.id
        assert len(theme.seeds) >= 5 and all(s.strip() for s in theme.seeds), theme.id
    assert [s.id for s in codebook.by_id["drugs"].stances] == [
        "more_enforcement",
        "legalise_or_less_enforcement",
    ]
    assert codebook.question.startswith("Is there anything missing")


def test_demo_readme_says_synthetic():
    readme = (DEMO / "export" / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "made up" in readme
