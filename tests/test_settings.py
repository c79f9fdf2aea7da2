"""Settings: defaults defined once, unknown keys refused with the key named, one-line errors."""

from __future__ import annotations

import pytest
import yaml
from conftest import DEMO, copy_workspace

from pipeline.errors import YousaidError
from pipeline.settings import FAST_EMBEDDING, EmbeddingSettings, ReportSettings, Settings, parse
from pipeline.workspace import load_workspace


def test_typo_in_a_section_is_refused_with_the_key_and_a_suggestion():
    with pytest.raises(YousaidError) as err:
        parse(Settings, {"report": {"min_bsae": 10}}, "consultation.yaml")
    message = str(err.value)
    assert "unknown key 'report.min_bsae'" in message and "did you mean 'min_base'" in message
    assert "\n" not in message


def test_wrong_types_and_ranges_name_the_key():
    with pytest.raises(YousaidError, match=r"classifier\.cv"):
        parse(Settings, {"classifier": {"cv": 1}}, "c.yaml")
    with pytest.raises(YousaidError, match=r"label\.sampling"):
        parse(Settings, {"label": {"sampling": "random-ish"}}, "c.yaml")
    with pytest.raises(YousaidError, match=r"report"):
        parse(Settings, {"report": ["min_base", 3]}, "c.yaml")  # a list where a mapping belongs


def test_defaults_come_from_one_place():
    s = parse(Settings, {}, "c.yaml")
    assert s.report == ReportSettings() and s.report.min_base == 30
    assert s.discover.cluster_size(500) == 11 and s.discover.cluster_size(5000) == 35
    assert EmbeddingSettings(fast=True).model_name == FAST_EMBEDDING
    assert EmbeddingSettings(fast="/models/mine").model_name == "/models/mine"


def test_workspace_errors_are_one_line(tmp_path):
    with pytest.raises(YousaidError, match="yousaid init DIR --from EXPORT"):
        load_workspace(tmp_path)
    root = copy_workspace(DEMO, tmp_path / "ws")
    config = yaml.safe_load((root / "consultation.yaml").read_text())
    config["settings"]["discover"] = {"min_topic_sise": 5}
    (root / "consultation.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(YousaidError, match=r"settings\.discover\.min_topic_sise.*min_topic_size"):
        load_workspace(root)
    config["settings"]["discover"] = {}
    config["questions"].append(dict(config["questions"][0]))
    (root / "consultation.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(YousaidError, match="question ids repeated: missing"):
        load_workspace(root)
    (root / "consultation.yaml").write_text("title: [unclosed\n")
    with pytest.raises(YousaidError, match="not valid YAML"):
        load_workspace(root)


def test_demo_workspace_selects_questions():
    ws = load_workspace(DEMO)
    assert [q.id for q in ws.select(None)] == ["missing", "feel_safer"]
    assert [q.id for q in ws.select("feel_safer")] == ["feel_safer"]
    with pytest.raises(YousaidError, match="no question 'nope'.*missing, feel_safer"):
        ws.select("nope")
    assert ws.display("route", "talk_london") == "Talk London"
    assert ws.display("route", "unknown_code") == "unknown_code"


def test_redaction_patterns_must_be_regular_expressions(tmp_path):
    root = copy_workspace(DEMO, tmp_path / "ws")
    config = yaml.safe_load((root / "consultation.yaml").read_text())
    config["redaction_patterns"] = {"case number": "CAD[0-9"}
    (root / "consultation.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(YousaidError, match=r"redaction_patterns.*'case number' is not a regular"):
        load_workspace(root)
