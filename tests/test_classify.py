"""Classifier: training contract, coded output contract, bad input, determinism, label next."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO, QUICK_TUNE, ROOT

from pipeline import modeldir
from pipeline.classify import ThemeClassifier, multilabel_metrics
from pipeline.codebook import load_codebook
from pipeline.coding import code, train
from pipeline.errors import InputError, YousaidError
from pipeline.labelled import label_matrix, read_labelled
from pipeline.select import choose_next, uncertainty

CODEBOOK = DEMO / "missing" / "codebook.yaml"
GOLD = DEMO / "export" / "gold.csv"


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


def test_metrics_and_card_written(demo_run, codebook):
    metrics = json.loads((demo_run["model_dir"] / "metrics.json").read_text())
    assert metrics["n_labelled"] == 200
    assert set(metrics["per_theme"]) == set(codebook.ids)
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= metrics["micro"][key] <= 1.0
    # 200 demo labels are enough to code most themes well
    assert metrics["micro"]["f1"] > 0.6
    labelled = read_labelled(demo_run["labelled"], codebook)
    assert (labelled["sample"] == "audit").sum() == 80  # kept apart from training
    labelled = labelled[labelled["sample"] == "train"]
    truth = label_matrix(labelled["labels"], codebook.ids).sum(0)
    for j, tid in enumerate(codebook.ids):
        assert metrics["per_theme"][tid]["support"] == truth[j]
    card = (demo_run["model_dir"] / "MODEL_CARD.md").read_text()
    assert metrics["model_version"] in card
    assert "Police misconduct and accountability" in card and "200 comments" in card
    assert "weighted per theme by naive-Bayes log-count ratios" in card  # the default model
    from pipeline import modeldir

    meta = json.loads((demo_run["model_dir"] / "meta.json").read_text())
    plain = modeldir.model_card({**meta, "naive_bayes_text": False}, metrics, codebook)
    assert "naive-Bayes" not in plain and "TF-IDF (words + characters)" in plain


def test_coded_output_contract(demo_run, codebook):
    comments = pd.read_parquet(demo_run["comments"])
    coded = pd.read_parquet(demo_run["coded"])
    assert coded["id"].tolist() == comments["id"].tolist()  # every row, in order
    for col in comments.columns:
        assert col in coded.columns
    for tid in codebook.ids:
        assert coded[f"prob_{tid}"].between(0, 1).all()
        assert set(coded[f"code_{tid}"].unique()) <= {0, 1}
    non = coded[~coded["substantive"]]
    assert len(non) > 30 and (non["labels"] == "").all() and (non["needs_review"] == 0).all()
    # labels agree with the 0/1 columns, sub-theme implies nothing odd, one model version
    for row in coded.head(100).itertuples():
        expected = [t for t in codebook.ids if getattr(row, f"code_{t}") == 1]
        assert row.labels.split("|") == expected if expected else row.labels == ""
    assert coded["model_version"].nunique() == 1
    # review flag: some theme decision at least 30% likely to be wrong (calibrated), never all rows
    sub = coded[coded["substantive"]]
    P = sub[[f"prob_{t}" for t in codebook.ids]].to_numpy()
    C = sub[[f"code_{t}" for t in codebook.ids]].to_numpy()
    doubt = np.where(C == 1, 1 - P, P).max(axis=1)
    assert ((doubt >= 0.3) == sub["needs_review"].astype(bool)).all()
    assert 0.05 < sub["needs_review"].mean() < 0.5
    # the held-out demo comments are coded about as well as the cross-validation said
    gold = pd.read_csv(GOLD, keep_default_na=False)
    labelled_ids = set(read_labelled(demo_run["labelled"], codebook)["id"])
    held = coded[coded["substantive"] & ~coded["id"].isin(labelled_ids)].merge(
        gold, on="id", suffixes=("", "_gold")
    )
    truth = label_matrix(
        held["labels_gold"].map(
            lambda v: "|".join(codebook.with_parents(v.split("|") if v else []))
        ),
        codebook.ids,
    )
    m = multilabel_metrics(truth, label_matrix(held["labels"], codebook.ids), codebook.ids)
    assert m["micro"]["f1"] > 0.6, m["micro"]


def test_same_seed_same_model(demo_run, codebook, tmp_path):
    ws = demo_run["ws"]
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        train(
            demo_run["labelled"],
            codebook,
            out,
            ws.settings.embedding.model_name,
            ws.cache_dir,
            seed=7,
            settings=QUICK_TUNE,
        )
    meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (a, b))
    assert meta_a == meta_b and meta_a["fine_tuned"]  # the tuned encoder repeats too
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()
    assert (a / "model.joblib").read_bytes() == (b / "model.joblib").read_bytes()


def _labelled_csv(tmp_path, rows):
    path = tmp_path / "labelled.csv"
    pd.DataFrame(rows, columns=["id", "text", "labels"]).to_csv(path, index=False)
    return path


def test_unknown_theme_ids_listed_with_rows(tmp_path, codebook):
    path = _labelled_csv(
        tmp_path,
        [
            ("1", "more police", "officers_visibility"),
            ("2", "x", "knife_crime"),
            ("3", "y", "knife_crime|drugz"),
        ],
    )
    with pytest.raises(InputError) as err:
        read_labelled(path, codebook)
    msg = str(err.value)
    assert (
        "'knife_crime' (rows 3, 4)" in msg
        and "'drugz' (rows 4)" in msg
        and "column 'labels'" in msg
    )


def test_all_empty_labels_refused(tmp_path, codebook):
    path = _labelled_csv(tmp_path, [("1", "a", ""), ("2", "b", "")])
    with pytest.raises(InputError, match="every comment has empty labels"):
        read_labelled(path, codebook)


def test_conflicting_duplicates_latest_wins(tmp_path, codebook, caplog):
    path = _labelled_csv(
        tmp_path, [("1", "a", "drugs"), ("2", "b", "vawg"), ("1", "a", "volume_crime")]
    )
    frame = read_labelled(path, codebook)
    assert frame.set_index("id").loc["1", "labels"] == "volume_crime"
    assert "1 with conflicting labels" in caplog.text


def test_missing_text_column(tmp_path, codebook):
    path = tmp_path / "l.csv"
    pd.DataFrame({"id": ["1"], "labels": ["drugs"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="required column 'text'"):
        read_labelled(path, codebook)


def test_theme_without_examples_is_reported_not_dropped(demo_run, codebook, tmp_path):
    frame = read_labelled(demo_run["labelled"], codebook)
    frame["labels"] = frame["labels"].map(
        lambda v: "|".join(t for t in v.split("|") if t and t != "specific_groups")
    )
    path = tmp_path / "no_groups.csv"
    frame[["id", "text", "labels"]].to_csv(path, index=False)
    ws = demo_run["ws"]
    metrics = train(
        path,
        codebook,
        tmp_path / "m",
        ws.settings.embedding.model_name,
        ws.cache_dir,
        settings=QUICK_TUNE,
    )
    assert metrics["untrained_themes"] == ["specific_groups"]
    model = modeldir.load(tmp_path / "m", codebook)
    coded = code(
        pd.read_parquet(demo_run["comments"]).head(50), model, np.load(demo_run["embeddings"])[:50]
    )
    assert "prob_specific_groups" in coded.columns and (coded["code_specific_groups"] == 0).all()
    assert "specific_groups" in (tmp_path / "m" / "MODEL_CARD.md").read_text()


def test_model_from_other_codebook_refused(demo_run, tmp_path):
    other = tmp_path / "codebook.yaml"
    other.write_text("themes:\n- id: drugs\n  name: Drugs\n- id: noise\n  name: Noise\n")
    with pytest.raises(YousaidError, match="different codebook.*new in the codebook: noise"):
        modeldir.load(demo_run["model_dir"], load_codebook(other))


def test_cli_code_refuses_comments_without_text(demo_run, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["1", "2"], "comment": ["a", "b"]}).to_csv(bad, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "code",
            "--model",
            str(demo_run["model_dir"]),
            "--comments",
            str(bad),
            "--out",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "bad.csv, row 1, column 'text': not found" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_label_next_picks_uncertain_varied_unlabelled(demo_run, codebook):
    comments = pd.read_parquet(demo_run["comments"])
    coded = pd.read_parquet(demo_run["coded"])
    model = modeldir.load(demo_run["model_dir"], codebook)
    probs = coded[[f"prob_{t}" for t in codebook.ids]].to_numpy()
    thresholds = np.asarray(model.meta["thresholds"])
    labelled = set(read_labelled(demo_run["labelled"], codebook)["id"])
    E = np.load(demo_run["embeddings"])
    chosen = choose_next(comments, E, probs, 30, thresholds, labelled, seed=1)
    assert len(chosen) == len(set(chosen)) == 30
    picked = comments.iloc[chosen]
    assert picked["substantive"].all() and not picked["id"].isin(labelled).any()
    # more uncertain than the average unlabelled comment, and not near-duplicates of each other
    u = uncertainty(probs, thresholds)
    assert u[chosen].mean() > u[comments["substantive"].to_numpy()].mean()
    sims = E[chosen] @ E[chosen].T
    assert (sims[np.triu_indices(30, 1)] < 0.95).all()
    assert chosen == choose_next(comments, E, probs, 30, thresholds, labelled, seed=1)


def test_beats_tfidf_baseline_on_nhs_sample(nhs_dir):
    """A small real check that runs in the suite; the full benchmark is `make bench`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from pipeline.embed import embed_texts

    cb = load_codebook(nhs_dir / "codebook.yaml")
    frame = read_labelled(nhs_dir / "comments.csv", cb)
    frame = (
        frame[frame["non_substantive"].astype(str) == "0"]
        .sample(1500, random_state=0)
        .reset_index(drop=True)
    )
    texts = frame["text"].fillna("").tolist()
    Y = label_matrix(frame["labels"], cb.ids)
    E, _ = embed_texts(
        texts, "all-MiniLM-L6-v2", cache_dir=ROOT / ".cache" / "embeddings", progress=False
    )
    tr, te = np.arange(1000), np.arange(1000, 1500)
    clf = ThemeClassifier(fine_tune_steps=0, progress=False)
    clf.fit([texts[i] for i in tr], Y[tr], embeddings=E[tr])
    ours = multilabel_metrics(Y[te], clf.predict([texts[i] for i in te], E[te]), cb.ids)
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    A, B = vec.fit_transform([texts[i] for i in tr]), vec.transform([texts[i] for i in te])
    base = np.zeros_like(Y[te])
    for j in range(Y.shape[1]):
        if Y[tr, j].min() != Y[tr, j].max():
            m = LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear").fit(
                A, Y[tr, j]
            )
            base[:, j] = m.predict_proba(B)[:, 1] >= 0.5
    theirs = multilabel_metrics(Y[te], base, cb.ids)
    assert ours["micro"]["f1"] > theirs["micro"]["f1"] + 0.02
    assert ours["macro"]["f1"] > theirs["macro"]["f1"]


def test_next_to_label_leaves_out_labelled_and_excluded(demo_run, codebook):
    from pipeline.stages.label import choose

    ws, q = demo_run["ws"], demo_run["question"]
    comments, first, how = choose(ws, q, 20)
    assert how == "model uncertainty"  # the demo run has a model: not a random first batch
    waiting = comments.iloc[first]["id"].tolist()[:10]  # as if already pushed to Label Studio
    _, again, _ = choose(ws, q, 20, exclude=waiting)
    ids = comments.iloc[again]["id"]
    labelled = set(read_labelled(demo_run["labelled"], codebook)["id"])
    assert len(again) == 20 and not ids.isin(waiting).any() and not ids.isin(labelled).any()


def _tiny_training_set():
    texts = [f"{w} comment number {i}" for i in range(12) for w in ("bus", "park")]
    Y = np.array([[1, 0] if t.startswith("bus") else [0, 1] for t in texts], dtype=np.int8)
    return texts, Y


def test_sklearn_contract_clone_and_params():
    from sklearn.base import clone

    clf = ThemeClassifier(C_text=2.0, cv=3, random_state=7, progress=False)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert twin.get_params()["random_state"] == 7
    assert "embedding_model" in clf.get_params()
    assert clone(clf).set_params(C_text=8.0).C_text == 8.0


def test_missing_embeddings_are_computed(embedding_model):
    texts, Y = _tiny_training_set()
    clf = ThemeClassifier(cv=2, fine_tune_steps=2, progress=False).fit(texts, Y)
    P = clf.predict_proba(["the bus was late again", "the park needs benches"])
    assert P.shape == (2, 2)
    assert P[0, 0] > P[0, 1] and P[1, 1] > P[1, 0]


def test_missing_embeddings_refused_without_model():
    texts, Y = _tiny_training_set()
    with pytest.raises(ValueError, match="embeddings=None and no embedding_model"):
        ThemeClassifier(embedding_model=None, progress=False).fit(texts, Y)
    with pytest.raises(ValueError, match="one row per text"):
        ThemeClassifier(progress=False).fit(texts, Y, embeddings=np.zeros((3, 4)))
    clf = ThemeClassifier(cv=2, fine_tune_steps=0, progress=False).fit(
        texts, Y, embeddings=np.random.default_rng(0).normal(size=(len(texts), 4))
    )
    with pytest.raises(ValueError, match="fitted on 4"):
        clf.predict_proba(texts[:2], embeddings=np.zeros((2, 5)))


def test_text_model_reads_plain_tfidf_with_its_theme_weights_folded_in():
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import TfidfVectorizer

    from pipeline.classify import _fit_binary, _fit_text_binary, _log_count_ratio

    texts, Y = _tiny_training_set()
    vec = TfidfVectorizer()
    T = vec.fit_transform(texts)
    y = Y[:, 0]
    ratio = dict(zip(vec.get_feature_names_out(), _log_count_ratio(T, y), strict=True))
    assert ratio["bus"] > 1 and ratio["park"] < -1 and abs(ratio["comment"]) < 1e-12
    folded = _fit_text_binary(T, y, 4.0, 0)
    weighted = diags(_log_count_ratio(T, y))
    direct = _fit_binary(T @ weighted, y, 4.0, 0)
    np.testing.assert_allclose(
        folded.predict_proba(T), direct.predict_proba(T @ weighted), rtol=0, atol=1e-12
    )
    assert _fit_text_binary(T, np.zeros(len(texts), dtype=np.int8), 4.0, 0) == 0.0
    # the option end to end: noise embeddings, so the text models alone must tell the themes
    noise = np.random.default_rng(0).normal(size=(len(texts) + 2, 4))
    clf = ThemeClassifier(cv=2, fine_tune_steps=0, naive_bayes_text=True, progress=False)
    clf.fit(texts, Y, embeddings=noise[: len(texts)])
    P = clf.predict_proba(["the bus was late", "the park is lovely"], noise[len(texts) :])
    assert P[0, 0] > P[0, 1] and P[1, 1] > P[1, 0]


def test_next_to_label_learns_from_labels_the_trained_model_has_not_seen(demo_run, tmp_path):
    """Picks come from a picker fitted on every label so far: no `run` needed between batches."""
    import shutil

    from pipeline.stages.label import choose
    from pipeline.workspace import load_workspace

    root = tmp_path / "ws"
    shutil.copytree(demo_run["ws"].root, root, ignore=shutil.ignore_patterns("reports"))
    ws = load_workspace(root)
    q = ws.question("missing")
    paths = ws.paths(q)
    shutil.rmtree(paths.model_dir)
    paths.coded.unlink()
    comments, picked, how = choose(ws, q, 15)
    assert how == "model uncertainty"
    labelled = pd.read_csv(paths.labelled, dtype=str)
    assert not comments.iloc[picked]["id"].astype(str).isin(labelled["id"]).any()
    labelled.head(5).to_csv(paths.labelled, index=False)  # too few labels: a first batch
    _, _, how = choose(ws, q, 15)
    assert how.startswith("a random first batch")
