"""How many processes a large spaCy batch may use (redaction, key phrases).

Why: spaCy's small English model is most of a report's time at scale, and nlp.pipe can spread a
batch over worker processes with the same results in the same order. It pays only for large
batches (each worker starts in about a second) and only where processes start by `fork`
(Linux): they inherit the loaded model, where under `spawn` (macOS, Windows) each would load it
again. Measured on 2 cores: about 1.4x (docs/benchmarks.md, Redaction).
"""

from __future__ import annotations

import multiprocessing
import os

PARALLEL_FROM = 2_000  # texts; below this, starting the workers costs more than it saves
MAX_WORKERS = 4


def spacy_workers(n_texts: int) -> int:
    if n_texts < PARALLEL_FROM or multiprocessing.get_start_method() != "fork":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS))
