"""Redaction (pipeline.privacy): what a hostile tester plants is caught, look-alikes survive.

The sentences are tests/data/redaction/unit.yaml (the benchmark's dev and held-out sets are
kept for scripts/benchmark_redaction.py). The engine loads once for the session.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.privacy.evaluate import caught, load_sentences, score

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "tests" / "data" / "redaction" / "unit.yaml"
SENTENCES = load_sentences(UNIT)
PLANTED = [s for s in SENTENCES if s["items"]]
LOOKALIKES = [s for s in SENTENCES if not s["items"]]


@pytest.fixture(scope="module")
def redacted() -> dict[str, object]:
    """Every unit sentence redacted once, in one batch."""
    from pipeline.privacy import redact_many

    out = redact_many([s["text"] for s in SENTENCES])
    return {s["id"]: r for s, r in zip(SENTENCES, out, strict=True)}


# the categories the old rules missed, each with unit sentences that plant it
MISSED_BEFORE = {
    "obfuscated email": ["u09", "u10"],
    "NI number": ["u18", "u19", "u41"],
    "date of birth": ["u20", "u21", "u34", "u42"],
    "social-media handle": ["u22", "u23", "u36"],
    "officer's shoulder/collar number": ["u24", "u25", "u26", "u37"],
    "title with a full stop": ["u01", "u02", "u30"],
    "apostrophe, Mc or Mac surname": ["u05", "u06", "u29", "u38"],
    "lower-case name": ["u39", "u31", "u02"],
    "lower-case address or postcode": ["u15", "u17"],
    "name after I'm / my name is": ["u04", "u07", "u40"],
    "relation and name": ["u03", "u31"],
}


@pytest.mark.parametrize("what", sorted(MISSED_BEFORE))
def test_categories_missed_before_are_caught(what, redacted):
    by_id = {s["id"]: s for s in SENTENCES}
    for sid in MISSED_BEFORE[what]:
        sentence, red = by_id[sid], redacted[sid]
        for category, item in sentence["items"]:
            assert caught(sentence["text"], red.text, item), (what, sid, red.text)
            assert f"[{category}]" in red.text, (sid, red.text)


@pytest.mark.parametrize("sentence", PLANTED, ids=[s["id"] for s in PLANTED])
def test_planted_items_are_replaced_by_their_marker(sentence, redacted):
    red = redacted[sentence["id"]]
    assert red.changed
    for category, item in sentence["items"]:
        assert caught(sentence["text"], red.text, item), red.text
        assert category in red.categories, (red.categories, red.text)


@pytest.mark.parametrize("sentence", LOOKALIKES, ids=[s["id"] for s in LOOKALIKES])
def test_lookalikes_survive(sentence, redacted):
    red = redacted[sentence["id"]]
    assert red.text == sentence["text"] and not red.changed and red.found == ()


def test_unit_set_meets_the_targets(redacted):
    result = score(SENTENCES, [redacted[s["id"]].text for s in SENTENCES])
    assert result["recall"] >= 0.95, result["misses"]
    assert result["lookalike_change_rate"] <= 0.05, result["changed_lookalikes"]
    assert len(PLANTED) >= 40 and len(LOOKALIKES) >= 20


def test_redaction_object_and_counts():
    from pipeline.privacy import counts, redact, redact_many

    text = "Mr. Okafor (okafor.j@gmail.com) rang 07700 900456; so did Mrs. Okafor."
    red = redact(text)
    assert red.text == "Mr. [name] ([email]) rang [phone]; so did Mrs. [name]."
    assert [(f.category, f.original) for f in red.found] == [
        ("name", "Okafor"),
        ("email", "okafor.j@gmail.com"),
        ("phone", "07700 900456"),
        ("name", "Okafor"),
    ]
    assert all(text[f.start : f.end] == f.original for f in red.found)
    assert counts([red, redact("nothing here")]) == {"name": 2, "email": 1, "phone": 1}
    assert [r.text for r in redact_many([text, "", None])] == [red.text, "", ""]
    assert redact("").text == "" and not redact("   ").changed


def test_allow_list_keeps_public_names_and_callers_names():
    from pipeline.privacy import redact

    text = "My neighbour Janet Oduya saw Sadiq Khan at the vigil for Sarah Everard."
    assert redact(text).text == "My neighbour [name] saw Sadiq Khan at the vigil for Sarah Everard."
    assert redact(text, allow=["Janet Oduya"]).text == text
    # an allowed name protects only itself: a namesake's first name alone is still redacted
    assert redact("Mr. Khan from number 4 is a dealer", allow=["Sadiq Khan"]).text == (
        "Mr. [name] from number 4 is a dealer"
    )


def test_no_network_needed(tmp_path):
    """A fresh process with sockets blocked loads the engine and redacts (incl. emails)."""
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import spacy.cli
        spacy.cli.download = refuse
        from pipeline.privacy import redact
        import tldextract
        tldextract.extract = refuse
        tldextract.TLDExtract.__call__ = refuse
        print(redact("email jo dot smith at gmail dot com or k.ng@btinternet.com").text)
        """
    )
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "email [email] or [email]"


def test_cli_redacts_a_csv_and_prints_counts(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    source = tmp_path / "comments.csv"
    source.write_text(
        "id,comment,route\n"
        '1,"I\'m Gareth, call me on 07723 418 902",web\n'
        "2,The A406 is a race track,poll\n",
        encoding="utf-8",
    )
    out = tmp_path / "redacted.csv"
    result = CliRunner().invoke(
        app, ["redact", str(source), "--out", str(out), "--column", "comment"]
    )
    assert result.exit_code == 0, result.output
    assert "name 1" in result.stderr and "phone 1" in result.stderr
    import pandas as pd

    written = pd.read_csv(out, dtype=str)
    assert written["comment"].tolist() == [
        "I'm [name], call me on [phone]",
        "The A406 is a race track",
    ]
    assert written["route"].tolist() == ["web", "poll"] and written["id"].tolist() == ["1", "2"]


def test_cli_redacts_a_txt_with_the_workspace_allow_list(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    ws = tmp_path / "ws"
    ws.mkdir()
    config = {
        "name": "demo",
        "title": "Demo",
        "source": {"files": ["export/x.csv"]},
        "id_column": "id",
        "questions": [{"id": "q1", "column": "text"}],
        "redaction_allow": ["Janet Oduya"],
        "redaction_patterns": {"case number": r"\bCAD ?\d{4,6}\b"},
    }
    (ws / "consultation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    source = tmp_path / "answers.txt"
    source.write_text(
        "Janet Oduya chairs the ward panel.\nmy ex-partner Daniel follows me\n"
        "They gave me reference CAD 40213 and never rang back\n",
        encoding="utf-8",
    )
    out = tmp_path / "answers.redacted.txt"
    result = CliRunner().invoke(app, ["redact", str(source), "--out", str(out), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "Janet Oduya chairs the ward panel.",
        "my ex-partner [name] follows me",
        "They gave me reference [case number] and never rang back",
    ]
    assert "name 1" in result.stderr and "case number 1" in result.stderr


def test_cli_missing_column_is_one_line_naming_file_and_column(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.errors import InputError

    source = tmp_path / "comments.csv"
    source.write_text("id,text\n1,hello\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["redact", str(source), "--out", str(tmp_path / "o.csv"), "--column", "answer"]
    )
    assert isinstance(result.exception, InputError)
    message = str(result.exception)
    assert "comments.csv" in message and "'answer'" in message and "\n" not in message
    assert not (tmp_path / "o.csv").exists()


def test_quotes_use_the_allow_list_and_show_only_categories():
    from pipeline.report.quotes import QuoteConfig, _prepare

    text = "Janet Oduya from the residents association asked for more patrols on our estate."
    quote, found = _prepare(text, False, QuoteConfig())
    assert quote.startswith("[name] from") and found == ("name",)
    assert _prepare(text, False, QuoteConfig(redaction_allow=("Janet Oduya",)))[0] == text


def test_phone_numbers_read_out_in_words():
    from pipeline.privacy import redact

    said = "ring me on oh seven seven double-oh 900 321 after six"
    assert redact(said).text == "ring me on [phone] after six"
    assert redact("it's oh two oh, seven nine four six, triple-one two").text == "it's [phone]"
    for kept in (
        "one two three four five six seven eight were arrested",  # not a UK number
        "the score was nine one one at half time",
        "Crimestoppers: oh eight hundred 555 111",  # a service number, however it is said
    ):
        assert redact(kept).text == kept


BENCH_SET = ROOT / "tests" / "data" / "redaction" / "sentences.yaml"


def _as_tuples(redactions) -> list[tuple]:
    return [(r.text, r.found) for r in redactions]


def test_parallel_redaction_matches_one_process(monkeypatch):
    """spaCy's worker processes change the speed, never a redaction (same texts, same order)."""
    from pipeline import workers
    from pipeline.privacy import redact_many

    if workers.spacy_workers(10**9) < 2:
        pytest.skip("spaCy workers are used only with fork and two cores or more")
    texts = [s["text"] for s in load_sentences(BENCH_SET)] + [s["text"] for s in SENTENCES]
    monkeypatch.setattr(workers, "PARALLEL_FROM", 10**9)
    alone = redact_many(texts, progress=False)
    monkeypatch.setattr(workers, "PARALLEL_FROM", 50)
    assert workers.spacy_workers(len(texts)) >= 2
    together = redact_many(texts, progress=False)
    assert _as_tuples(together) == _as_tuples(alone)
    assert sum(r.changed for r in together) > 100


def test_store_gives_back_the_same_redactions_without_redacting(tmp_path, monkeypatch):
    """A second report reads the store: same redactions, no spaCy; other rules, another store."""
    from pipeline.privacy import redact_many
    from pipeline.privacy import store as store_module
    from pipeline.privacy.engine import engine

    texts = [s["text"] for s in SENTENCES] + ["", "   ", SENTENCES[0]["text"]]
    plain = redact_many(texts)
    with store_module.stored_redactions(tmp_path):
        first = redact_many(texts)
    assert _as_tuples(first) == _as_tuples(plain)
    shards = list(tmp_path.glob("*/shard-*.parquet"))
    assert len(shards) == 1
    stored = shards[0].read_bytes()
    for s in PLANTED:  # the store holds spans and categories, no piece of anyone's text
        for _category, item in s["items"]:
            assert item.encode("utf-8") not in stored

    store_module._read.cache_clear()  # as in a new process: read back from disk

    def refuse(*args, **kwargs):
        raise AssertionError("redacted again instead of reading the store")

    monkeypatch.setattr(engine().analyzer.nlp_engine, "process_batch", refuse)
    with store_module.stored_redactions(tmp_path):
        again = redact_many(texts)
    assert _as_tuples(again) == _as_tuples(plain)

    monkeypatch.undo()
    named = next(s for s in PLANTED if s["items"][0][0] == "name")
    kept = named["items"][0][1]
    with store_module.stored_redactions(tmp_path):
        allowed = redact_many([named["text"]], allow=[kept])
    assert kept in allowed[0].text
    assert len({p.parent for p in tmp_path.glob("*/shard-*.parquet")}) == 2


def test_a_torn_store_shard_is_redacted_again(tmp_path, caplog):
    from pipeline.privacy import redact_many
    from pipeline.privacy import store as store_module

    text = PLANTED[0]["text"]
    with store_module.stored_redactions(tmp_path):
        good = redact_many([text])
    shard = next(tmp_path.glob("*/shard-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:20])
    store_module._read.cache_clear()
    with store_module.stored_redactions(tmp_path):
        again = redact_many([text])
    assert _as_tuples(again) == _as_tuples(good)
    assert "unreadable" in caplog.text
