#!/usr/bin/env python3
"""Redaction benchmark: recall of planted personal data, look-alikes changed, speed, memory.

Reads tests/data/redaction/sentences.yaml (dev and held-out splits) and unit.yaml, redacts every
sentence with pipeline.privacy, and scores it with pipeline.privacy.evaluate (an item is caught
when no identifying part of it survives; see that module). The held-out split is the figure
that counts; dev was used to write the rules. Also times the engine load (fresh process) and
redaction of the demo consultation's comments (real-length answers).

Writes docs/benchmark_redaction.json and the "## Redaction" section of docs/benchmarks.md
(between its markers; the rest of the file is kept). `make bench-redaction` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docsection import write_section  # noqa: E402

from pipeline.privacy.evaluate import load_sentences, score  # noqa: E402

DATA = ROOT / "tests" / "data" / "redaction"
DEMO = ROOT / "examples" / "policing" / "export" / "comments.csv"
NHS = ROOT.parent / "shared" / "benchmarks" / "nhs_fft" / "comments.csv"
SECTION = "redaction"  # its markers in docs/benchmarks.md
RECALL_TARGET, LOOKALIKE_TARGET = 0.95, 0.05
# Recorded by hand: the held-out split was run once when the dev split first passed, before the
# last changes (place names, part-of-speech checks, a few list entries prompted by the demo
# comments and by probe sentences outside these sets).
FIRST_HELDOUT_RUN = "92/92 items caught (100%), 0/40 look-alikes changed"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(texts: list[str], repeat: int = 1) -> tuple[list, float]:
    from pipeline.privacy import redact_many

    start = time.perf_counter()
    out = []
    for _ in range(repeat):
        out = redact_many(texts, progress=False)
    return out, (time.perf_counter() - start) / repeat


def large_batch(texts: list[str]) -> dict:
    """Real comments in one process, then with spaCy's workers, then read back from a store."""
    import tempfile

    from pipeline import workers
    from pipeline.privacy import store

    texts = list(dict.fromkeys(t for t in texts if t.strip()))
    out: dict = {"comments": len(texts), "mean_chars": sum(map(len, texts)) / len(texts)}
    saved = workers.PARALLEL_FROM
    workers.PARALLEL_FROM = 10**9
    try:
        alone, seconds = measure(texts)
    finally:
        workers.PARALLEL_FROM = saved
    out["one_process_per_s"] = len(texts) / seconds
    out["workers"] = workers.spacy_workers(len(texts))
    together, seconds = measure(texts)
    out["workers_per_s"] = len(texts) / seconds
    out["same"] = [(r.text, r.found) for r in alone] == [(r.text, r.found) for r in together]
    with tempfile.TemporaryDirectory() as folder:
        with store.stored_redactions(folder):
            measure(texts)
        store._read.cache_clear()  # read back from disk, as a later stage's process does
        with store.stored_redactions(folder):
            again, seconds = measure(texts)
    out["store_per_s"] = len(texts) / seconds
    out["parallel_from"] = workers.PARALLEL_FROM
    out["same"] &= [r.text for r in again] == [r.text for r in alone]
    return out


def run() -> dict:
    import pandas as pd

    rss_before = peak_mib()
    started = time.perf_counter()
    from pipeline.privacy.engine import engine

    eng = engine()
    load_seconds = time.perf_counter() - started
    sets = {
        "heldout": load_sentences(DATA / "sentences.yaml", "heldout"),
        "dev": load_sentences(DATA / "sentences.yaml", "dev"),
        "unit": load_sentences(DATA / "unit.yaml"),
    }
    results = {}
    for name, sentences in sets.items():
        redacted, seconds = measure([s["text"] for s in sentences])
        results[name] = score(sentences, [r.text for r in redacted])
        results[name]["sentences"] = len(sentences)
        results[name]["seconds"] = seconds

    every = [s["text"] for group in sets.values() for s in group]
    from pipeline.privacy import redact

    start = time.perf_counter()
    for text in every:
        redact(text)
    one_by_one = len(every) / (time.perf_counter() - start)
    _, batch_seconds = measure(every, repeat=3)
    throughput = {
        "sentences": len(every),
        "batched_per_s": len(every) / batch_seconds,
        "one_by_one_per_s": one_by_one,
    }
    if DEMO.exists():
        demo = pd.read_csv(DEMO, dtype=str)["text"].fillna("").tolist()
        redacted, seconds = measure(demo)
        throughput["demo_comments"] = len(demo)
        throughput["demo_mean_chars"] = sum(map(len, demo)) / len(demo)
        throughput["demo_per_s"] = len(demo) / seconds
        throughput["demo_changed"] = sum(r.changed for r in redacted)
    if NHS.exists():
        throughput["nhs"] = large_batch(pd.read_csv(NHS, dtype=str)["text"].fillna("").tolist())
    held = results["heldout"]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "engine_load_seconds": load_seconds,
        "engine_load_seconds_inside": eng.load_seconds,
        "peak_rss_mib": peak_mib(),
        "rss_before_engine_mib": rss_before,
        "throughput": throughput,
        "targets": {
            "recall": RECALL_TARGET,
            "lookalike_change_rate": LOOKALIKE_TARGET,
            "met_on_heldout": held["recall"] >= RECALL_TARGET
            and held["lookalike_change_rate"] <= LOOKALIKE_TARGET,
        },
        "first_heldout_run": FIRST_HELDOUT_RUN,
        "sets": results,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def render(report: dict) -> str:
    sets = report["sets"]
    names = ["heldout", "dev", "unit"]
    categories = sorted(
        {c for n in names for c in sets[n]["per_category"]},
        key=lambda c: -sets["heldout"]["per_category"].get(c, {"items": 0})["items"],
    )
    lines = [
        "## Redaction",
        "",
        "`make bench-redaction` (scripts/benchmark_redaction.py), "
        f"{report['date']}, {report['machine']}. Sentences written for yousaid in the voice of "
        "consultation answers (tests/data/redaction): personal data planted in each, and "
        "look-alikes that must not change (road numbers, sums, dates that are not birth dates, "
        "service and helpline numbers, organisations, places and stations, famous addresses, "
        "ranks without a name, public figures and widely reported victims). The rules were "
        "written against the *dev* split; the *held-out* split, written at the same time, is "
        "the figure that counts (first run on it: "
        f"{report['first_heldout_run']}). The *unit* split is the one tests/test_redact.py uses.",
        "",
        "An item is caught when no identifying part of it survives: its runs of letters and "
        'digits, less single letters and generic words ("at", "dot", "gmail", "road", '
        "month names), may occur in the redacted text no more often than in the rest of the "
        "original sentence. A look-alike is changed when its text changes at all. Collateral: "
        "words outside the planted items that redaction removed.",
        "",
        "| | held-out | dev | unit |",
        "|---|---:|---:|---:|",
    ]
    for label, key in (
        ("sentences with personal data", "sentences_with_items"),
        ("planted items", "items"),
    ):
        lines.append(f"| {label} | " + " | ".join(str(sets[n][key]) for n in names) + " |")
    lines.append(
        "| **recall (items caught)** | "
        + " | ".join(
            f"**{_pct(sets[n]['recall'])}** ({sets[n]['caught']}/{sets[n]['items']})" for n in names
        )
        + " |"
    )
    lines.append(
        "| **look-alikes changed** | "
        + " | ".join(
            f"**{_pct(sets[n]['lookalike_change_rate'])}** "
            f"({sets[n]['lookalikes_changed']}/{sets[n]['lookalikes']})"
            for n in names
        )
        + " |"
    )
    lines.append(
        "| collateral words lost | "
        + " | ".join(str(sets[n]["collateral_runs_lost"]) for n in names)
        + " |"
    )
    for c in categories:
        cells = []
        for n in names:
            v = sets[n]["per_category"].get(c)
            cells.append("–" if v is None else f"{_pct(v['recall'])} ({v['caught']}/{v['items']})")
        lines.append(f"| recall: {c} | " + " | ".join(cells) + " |")
    t = report["throughput"]
    target = report["targets"]
    lines += [
        "",
        f"Targets on the held-out split (recall >= {target['recall']:.0%}, look-alikes changed "
        f"<= {target['lookalike_change_rate']:.0%}): "
        + ("**met**." if target["met_on_heldout"] else "**not met**."),
        "",
        f"Speed: engine load {report['engine_load_seconds']:.1f} s in a fresh process (imports of "
        "spaCy and presidio, the model, the recognizers; once per process); "
        f"{t['batched_per_s']:.0f} sentences/s batched (`redact_many`, nlp.pipe) and "
        f"{t['one_by_one_per_s']:.0f}/s one at a time (`redact`) over these {t['sentences']} "
        "short sentences"
        + (
            f"; {t['demo_per_s']:.0f} comments/s on the demo consultation's {t['demo_comments']} "
            f"comments (mean {t['demo_mean_chars']:.0f} characters; {t['demo_changed']} of them "
            "changed)"
            if "demo_per_s" in t
            else ""
        )
        + f". Peak memory of the benchmark process: {report['peak_rss_mib']:.0f} MiB.",
    ]
    if "nhs" in t:
        n = t["nhs"]
        lines += [
            "",
            f"Large batches: the NHS benchmark's {n['comments']:,} distinct comments (mean "
            f"{n['mean_chars']:.0f} characters) at {n['one_process_per_s']:.0f} comments/s in one "
            f"process and {n['workers_per_s']:.0f}/s with spaCy in {n['workers']} worker processes "
            f"(x{n['workers_per_s'] / n['one_process_per_s']:.2f}; "
            + ("the same redactions" if n["same"] else "**different redactions**")
            + "); a re-run that finds them in the workspace's store (pipeline/privacy/store.py) "
            f"reads them back at {n['store_per_s']:,.0f}/s. Workers are used from "
            f"{n['parallel_from']:,} texts, where processes "
            "start by fork (Linux).",
        ]
    misses = [(n, m) for n in names for m in sets[n]["misses"]]
    changed = [(n, m) for n in names for m in sets[n]["changed_lookalikes"]]
    if misses or changed:
        lines += ["", "Misses and changed look-alikes:", ""]
        lines += [
            f"- {n} {m['id']} missed {m['category']} `{m['item']}`: {m['redacted']}"
            for n, m in misses
        ]
        lines += [f"- {n} {m['id']} changed: {m['redacted']}" for n, m in changed]
    lines += [
        "",
        "Known limits: names with no cue, in lower case and missing from the name lists, are "
        "only caught when spaCy's NER finds them; over-redaction is the safe failure (a "
        'surname that is also a word after "my neighbour" goes too). The sets were written '
        "by the same people who wrote the rules, so they test the phrasings we thought of; a "
        "new hostile test is the real check.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmark_redaction.json")
    args = parser.parse_args()
    report = run()
    tmp = args.json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(args.json)
    write_section(args.doc, SECTION, render(report), heading="## Redaction")
    held = report["sets"]["heldout"]
    print(
        f"held-out recall {held['recall']:.1%} ({held['caught']}/{held['items']}), look-alikes "
        f"changed {held['lookalikes_changed']}/{held['lookalikes']}; load "
        f"{report['engine_load_seconds']:.1f} s; {report['throughput']['batched_per_s']:.0f} "
        f"sentences/s; peak {report['peak_rss_mib']:.0f} MiB -> {args.doc}, {args.json}"
    )
    return 0 if report["targets"]["met_on_heldout"] else 1


if __name__ == "__main__":
    sys.exit(main())
