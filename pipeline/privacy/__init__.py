"""Redaction of personal data, used by every shareable output (quotes, discovery, codebooks).

    from pipeline.privacy import redact, redact_many, counts
    redact("Call Sam on 07700 900456").text  ->  "Call [name] on [phone]"

presidio-analyzer runs spaCy's small English NER (en_core_web_sm 3.8.0, installed from PyPI),
its UK recognizers, phonenumbers (region GB) and our rules for UK-shaped and obfuscated data;
see engine.py for the set-up and recognizers.py for the rules. Everything runs offline.
"""

from pipeline.privacy.files import redact_file
from pipeline.privacy.redact import (
    MARKERS,
    Finding,
    Redaction,
    counts,
    redact,
    redact_many,
    without_personal_data,
)

__all__ = [
    "MARKERS",
    "Finding",
    "Redaction",
    "counts",
    "redact",
    "redact_file",
    "redact_many",
    "without_personal_data",
]
