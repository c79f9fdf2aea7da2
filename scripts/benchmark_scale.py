#!/usr/bin/env python3
"""Scale benchmark: ingest -> embed -> code -> report on 1k, 10k and 100k comments.

    .venv/bin/python scripts/benchmark_scale.py --sizes 1000,10000,100000   (or `make bench-scale`)

Large inputs are built by resampling the NHS benchmark texts (../shared/benchmarks/nhs_fft) with
small seeded perturbations (a typo, two words swapped, a varied clause) so that every answer text
is unique and the embedding cache cannot make the run trivial. The export's "Did not answer"
placeholders and empty answers stay as they are (real exports repeat them too; ingest flags them).

One model is trained first on 2,000 NHS hand labels with the NHS codebook, so the report has
realistic themes and metrics that match the model. Then, per size, a temporary consultation
workspace is written (the input as its export, one question, the NHS codebook and that model) and
each stage runs as its own process (`yousaid <stage> --workspace <tmp workspace>`) with an EMPTY
embedding cache, while this script polls the process tree's resident memory (psutil, every 0.1 s)
for the peak.

Results go to docs/scale.json (merged with earlier sizes, so sizes can be run separately),
docs/scale.png (log-log) and the "Scale" section of docs/benchmarks.md (between its markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docsection import write_section  # noqa: E402

from pipeline.workspace import QuestionPaths  # noqa: E402

YOUSAID = ROOT / ".venv" / "bin" / "yousaid"
SECTION = "scale"  # its markers in docs/benchmarks.md
STAGES = ("ingest", "embed", "code", "report")
QUESTION = "fft"  # the one question of each benchmark workspace
PLACEHOLDERS = {"did not answer"}  # the NHS export's marker for a skipped question

_CLAUSES = [
    "This was on a {day}.",
    "I was there in {month}.",
    "We came in on a {day} {part}.",
    "My {who} was with me.",
    "It was my {nth} visit.",
    "I waited about {mins} minutes.",
    "The {place} was busy that {day}.",
    "Said so to the {role} too.",
    "Back in {month} it was the same.",
    "Ward {ward}.",
]
_FILL = {
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "month": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "part": ["morning", "afternoon", "evening", "night"],
    "who": ["mum", "dad", "son", "daughter", "husband", "wife", "partner", "friend", "carer"],
    "nth": ["first", "second", "third", "fourth", "fifth"],
    "mins": [str(m) for m in range(5, 125, 5)],
    "place": ["waiting room", "ward", "clinic", "reception", "car park", "pharmacy"],
    "role": ["nurse", "doctor", "receptionist", "driver", "manager", "consultant"],
    "ward": [str(w) for w in range(1, 40)],
}


# --- building inputs --------------------------------------------------------------------------


def _clause(rng: np.random.Generator) -> str:
    template = _CLAUSES[rng.integers(len(_CLAUSES))]
    return re.sub(
        r"\{(\w+)\}", lambda m: _FILL[m.group(1)][rng.integers(len(_FILL[m.group(1)]))], template
    )


def _typo(words: list[str], rng: np.random.Generator) -> list[str]:
    long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long:
        return words
    i = long[rng.integers(len(long))]
    w = words[i]
    j = int(rng.integers(1, len(w) - 2)) if len(w) > 3 else 1
    words = list(words)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return words


def _swap(words: list[str], rng: np.random.Generator) -> list[str]:
    if len(words) < 4:
        return words
    i = int(rng.integers(len(words) - 1))
    words = list(words)
    words[i], words[i + 1] = words[i + 1], words[i]
    return words


def perturb(text: str, rng: np.random.Generator) -> str:
    """One or two small edits that keep the comment readable: typo, word swap, extra clause."""
    words = text.split()
    for op in rng.permutation(3)[: rng.integers(1, 3)]:
        if op == 0:
            words = _typo(words, rng)
        elif op == 1:
            words = _swap(words, rng)
        else:
            clause = _clause(rng)
            words = clause.split() + words if rng.random() < 0.3 else words + clause.split()
    return " ".join(words)


def build_input(source: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` rows resampled from `source`, every non-placeholder text unique."""
    rng = np.random.default_rng(seed)
    rows = source.iloc[rng.integers(len(source), size=n)].reset_index(drop=True)
    texts = rows["text"].fillna("").astype(str).tolist()
    seen: set[str] = set()
    out = []
    for text in texts:
        if not text.strip() or text.strip().lower() in PLACEHOLDERS:
            out.append(text)
            continue
        candidate = perturb(text, rng)
        tries = 0
        while candidate in seen:
            tries += 1
            candidate = perturb(candidate if tries > 3 else text, rng)
        seen.add(candidate)
        out.append(candidate)
    return pd.DataFrame(
        {
            "id": [f"c{n}-{i:06d}" for i in range(n)],
            "text": out,
            "question": rows["question"].to_numpy(),
            "trust": rows["trust"].to_numpy(),
            "service": rows["service"].astype(str).str.strip().to_numpy(),
            "fft_score": rows["fft_score"].to_numpy(),
        }
    )


# --- running stages ---------------------------------------------------------------------------


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(cmd: list[str], log_path: Path, interval: float = 0.1) -> dict:
    """Run `cmd`; wall seconds, peak RSS of its process tree (polled), exit code."""
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
        "TQDM_MININTERVAL": "5",
    }
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        ps = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(ps))
            time.sleep(interval)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20, "rc": proc.returncode}


def write_workspace(
    work: Path, export: str, data: Path, fast: bool = False, cache_dir: Path | None = None
) -> QuestionPaths:
    """A consultation workspace in `work`: `export` (relative to it) read as one question, coded
    with the NHS codebook; no hand labels, responses or quotes. Returns the question's files.

    `cache_dir` None: the workspace's own (empty) embedding cache.
    """
    embedding: dict = {"fast": fast}
    if cache_dir is not None:
        embedding["cache_dir"] = str(cache_dir)
    config = {
        "name": "scale",
        "title": "Scale benchmark (NHS Friends and Family Test, resampled)",
        "source": {"files": [export]},
        "id_column": "id",
        "respondent_columns": {"question": "question", "trust": "trust", "service": "service"},
        "questions": [{"id": QUESTION, "column": "text"}],
        "settings": {
            "seed": 42,
            "embedding": embedding,
            "ingest": {"extra_non_answers": ["Did not answer"]},
            "report": {"group_by": ["question", "trust", "service"]},
        },
    }
    work.mkdir(parents=True, exist_ok=True)
    (work / "consultation.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
    )
    paths = QuestionPaths.under(work / QUESTION)
    paths.root.mkdir(exist_ok=True)
    shutil.copy2(data / "codebook.yaml", paths.codebook)
    return paths


def stage_command(stage: str, work: Path) -> list[str]:
    return [str(YOUSAID), stage, "--workspace", str(work), "--question", QUESTION]


def train_model(data: Path, work: Path, n_labels: int, seed: int, fast: bool = False) -> Path:
    """A model on `n_labels` NHS hand labels, trained once (embeddings from the repo's cache)."""
    frame = pd.read_csv(data / "comments.csv")
    frame = frame[frame["non_substantive"] == 0]
    frame = frame.sample(n=min(n_labels, len(frame)), random_state=seed)
    train_ws = work / ("train-fast" if fast else "train")
    shutil.rmtree(train_ws, ignore_errors=True)
    paths = write_workspace(
        train_ws, "train_labels.csv", data, fast, cache_dir=ROOT / ".cache" / "embeddings"
    )
    frame[["id", "text", "labels"]].to_csv(train_ws / "train_labels.csv", index=False)
    paths.labelled.parent.mkdir(parents=True, exist_ok=True)
    frame[["id", "text", "labels"]].to_csv(paths.labelled, index=False)
    result = run_measured(stage_command("train", train_ws), work / "train.log")
    if result["rc"] != 0:
        raise SystemExit(f"training failed, see {work / 'train.log'}")
    print(f"trained on {len(frame)} NHS labels in {result['seconds']:.0f} s", file=sys.stderr)
    return paths.model_dir


def _last_lines(path: Path, n: int = 5) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])


def run_size(
    n: int,
    source: pd.DataFrame,
    data: Path,
    model_dir: Path,
    root: Path,
    seed: int,
    fast: bool = False,
) -> dict:
    work = root / (f"n{n}-fast" if fast else f"n{n}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    frame = build_input(source, n, seed)
    frame.to_csv(work / "comments.csv", index=False)
    build_s = time.perf_counter() - t0
    unique = frame["text"].nunique()
    paths = write_workspace(work, "comments.csv", data, fast)
    shutil.copytree(model_dir, paths.model_dir)  # the model trained once, for every size
    load_before = os.getloadavg()[0]
    stages = {}
    for stage in STAGES:
        log_path = work / f"{stage}.log"
        result = run_measured(stage_command(stage, work), log_path)
        result["load"] = os.getloadavg()[0]
        if result["rc"] != 0:
            raise SystemExit(f"{stage} failed on {n} comments:\n{_last_lines(log_path, 20)}")
        result["per_s"] = n / result["seconds"]
        stages[stage] = result
        print(
            f"  {n:>7} {stage:<7} {result['seconds']:8.1f} s {result['per_s']:9.0f}/s "
            f"{result['peak_rss_mib']:7.0f} MiB (load {result['load']:.1f})",
            file=sys.stderr,
        )
    # the analyst's loop: relabel, code, report again; the workspace's store now holds every
    # comment's redaction, so this re-run shows what a report costs without redacting
    again = run_measured(stage_command("report", work), work / "report-again.log")
    again.update(load=os.getloadavg()[0], per_s=n / again["seconds"])
    print(f"  {n:>7} report again {again['seconds']:8.1f} s", file=sys.stderr)
    substantive = int(pd.read_parquet(paths.comments, columns=["substantive"])["substantive"].sum())
    return {
        "report_again": again,
        "comments": n,
        "unique_texts": int(unique),
        "substantive": substantive,
        "build_seconds": build_s,
        "load_before": load_before,
        "stages": stages,
        "total_seconds": sum(s["seconds"] for s in stages.values()),
        "peak_rss_mib": max(s["peak_rss_mib"] for s in stages.values()),
    }


# --- reporting ---------------------------------------------------------------------------------


def plot(results: dict[str, dict], path: Path, fast: dict[str, dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(k) for k in results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for stage in (*STAGES, "total"):
        secs = [
            results[str(n)]["total_seconds"]
            if stage == "total"
            else results[str(n)]["stages"][stage]["seconds"]
            for n in sizes
        ]
        rss = [
            results[str(n)]["peak_rss_mib"]
            if stage == "total"
            else results[str(n)]["stages"][stage]["peak_rss_mib"]
            for n in sizes
        ]
        style = {"lw": 2.5, "color": "black"} if stage == "total" else {}
        axes[0].plot(sizes, secs, marker="o", label=stage, **style)
        axes[1].plot(
            sizes, rss, marker="o", label="max of stages" if stage == "total" else stage, **style
        )
    if fast:
        fs = sorted(int(k) for k in fast)
        for ax, key, what in (
            (axes[0], "total_seconds", "total"),
            (axes[1], "peak_rss_mib", "max"),
        ):
            values = [fast[str(n)][key] for n in fs]
            ax.plot(fs, values, marker="s", ls="--", color="grey", label=f"{what}, embedding.fast")
    if len(sizes) > 1:  # through the largest run: smaller runs above it are paying fixed costs
        ref = np.array(sizes, dtype=float)
        top = results[str(sizes[-1])]["total_seconds"]
        axes[0].plot(ref, top * ref / ref[-1], ls=":", color="black", lw=1, label="linear")
    axes[0].set_ylabel("wall seconds")
    axes[1].set_ylabel("peak RSS (MiB, process tree)")
    axes[1].axhline(2048, ls="--", color="red", lw=1, label="2 GiB target")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("comments")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("yousaid at scale: ingest -> embed -> code -> report (2 cores, empty cache)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(results: dict[str, dict], meta: dict) -> str:
    sizes = sorted(int(k) for k in results)
    lines = [
        "## Scale (ingest -> embed -> code -> report)",
        "",
        f"`make bench-scale` ({Path(__file__).name}): NHS benchmark texts resampled with seeded "
        "perturbations (every answer unique except the export's 'Did not answer' placeholders and "
        "empty answers), each stage its own `yousaid <stage>` process, an EMPTY embedding cache per "
        f"size, a model trained once on {meta['n_labels']} NHS hand labels ({meta['model']}). Peak "
        "RSS is the process tree's resident memory polled every 0.1 s (model included). "
        f"Machine: {meta['machine']}; load average (1 min) is given per run because other jobs share it.",
        "",
        "| comments | stage | seconds | comments/s | peak RSS (MiB) | load |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for n in sizes:
        r = results[str(n)]
        for stage in STAGES:
            s = r["stages"][stage]
            lines.append(
                f"| {n:,} | {stage} | {s['seconds']:.1f} | {s['per_s']:,.0f} | "
                f"{s['peak_rss_mib']:,.0f} | {s['load']:.1f} |"
            )
        lines.append(
            f"| {n:,} | **total** | **{r['total_seconds']:.1f}** | "
            f"**{n / r['total_seconds']:,.0f}** | **{r['peak_rss_mib']:,.0f}** | "
            f"{r['load_before']:.1f} before |"
        )
        if "report_again" in r:
            s = r["report_again"]
            lines.append(
                f"| {n:,} | report again (redactions stored; not in the total) | "
                f"{s['seconds']:.1f} | {s['per_s']:,.0f} | {s['peak_rss_mib']:,.0f} | {s['load']:.1f} |"
            )
    lines += ["", "![scale](scale.png)", ""]
    fast = meta.get("fast_results") or {}
    if fast:
        lines += [
            f"Fast path (`embedding.fast: true`: {meta.get('fast_model', 'static')}, a model trained "
            "the same way on its own embeddings), same inputs and empty cache; the first run on a "
            "machine also distils the static model once (25 to 40 s, not counted here):",
            "",
            "| comments | ingest s | embed s | code s | report s | total s | comments/s | peak RSS (MiB) | load |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in sorted(int(k) for k in fast):
            r = fast[str(n)]
            cells = " | ".join(f"{r['stages'][s]['seconds']:.1f}" for s in STAGES)
            lines.append(
                f"| {n:,} | {cells} | **{r['total_seconds']:.1f}** | "
                f"{n / r['total_seconds']:,.0f} | {r['peak_rss_mib']:,.0f} | {r['load_before']:.1f} |"
            )
        lines.append("")
    if len(sizes) > 1:
        lines += [
            "Growth from each size to the next (x10 comments; 10 = linear):",
            "",
            "| from -> to | " + " | ".join(STAGES) + " | total |",
            "|---|" + "---:|" * (len(STAGES) + 1),
        ]
        for a, b in zip(sizes, sizes[1:], strict=False):
            ra, rb = results[str(a)], results[str(b)]
            cells = [
                f"{rb['stages'][s]['seconds'] / ra['stages'][s]['seconds']:.1f}" for s in STAGES
            ]
            cells.append(f"{rb['total_seconds'] / ra['total_seconds']:.1f}")
            lines.append(f"| {a:,} -> {b:,} (x{b / a:g}) | " + " | ".join(cells) + " |")
        lines.append("")
    if meta.get("notes"):
        lines += [meta["notes"].strip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="comma-separated comment counts"
    )
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "nhs_fft"
    )
    parser.add_argument("--work", type=Path, default=None, help="keep inputs and outputs here")
    parser.add_argument("--labels", type=int, default=2000, help="NHS hand labels to train on")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--notes", type=Path, default=None, help="markdown appended to the section")
    parser.add_argument("--no-write", action="store_true", help="print results; leave docs alone")
    parser.add_argument("--fast", action="store_true", help="embedding.fast: true (static model)")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="run nothing: rewrite plot and section from docs/scale.json (and --notes)",
    )
    args = parser.parse_args()
    if not (args.data / "comments.csv").exists():
        print(f"benchmark data not found at {args.data}: skipping", file=sys.stderr)
        return 0
    if not YOUSAID.exists():
        print(f"{YOUSAID} not found: run `make install` first", file=sys.stderr)
        return 1
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    if args.redraw:
        stored = json.loads((args.docs / "scale.json").read_text())
        meta = {**stored["meta"], "fast_results": stored.get("fast_results", {})}
        if args.notes:
            meta["notes"] = args.notes.read_text(encoding="utf-8")
            stored["meta"]["notes"] = meta["notes"]
            (args.docs / "scale.json").write_text(
                json.dumps(stored, indent=1) + "\n", encoding="utf-8"
            )
        plot(stored["results"], args.docs / "scale.png", stored.get("fast_results"))
        write_section(args.docs / "benchmarks.md", SECTION, section(stored["results"], meta))
        return 0
    root = args.work or Path(tempfile.mkdtemp(prefix="yousaid-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    source = pd.read_csv(args.data / "comments.csv")
    model_dir = train_model(args.data, root, args.labels, args.seed, args.fast)
    model = json.loads((model_dir / "meta.json").read_text())["embedding_model"]

    json_path = args.docs / "scale.json"
    stored = json.loads(json_path.read_text()) if json_path.exists() else {}
    key = "fast_results" if args.fast else "results"
    results = {k: dict(stored.get(k, {})) for k in ("results", "fast_results")}
    for n in sizes:
        print(f"{n} comments (load {os.getloadavg()[0]:.1f}):", file=sys.stderr)
        results[key][str(n)] = run_size(n, source, args.data, model_dir, root, args.seed, args.fast)
    fast_model = (stored.get("meta") or {}).get("fast_model")
    if args.fast:
        fast_model = model
        model = (stored.get("meta") or {}).get("model", "all-MiniLM-L6-v2")
    meta = {
        "n_labels": args.labels,
        "model": model,
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.machine()}",
        "notes": args.notes.read_text(encoding="utf-8")
        if args.notes
        else stored.get("meta", {}).get("notes", ""),
        "fast_model": fast_model,
        "fast_results": results["fast_results"],
    }
    print(json.dumps({str(n): results[key][str(n)] for n in sizes}, indent=1))
    if args.no_write:
        return 0
    args.docs.mkdir(parents=True, exist_ok=True)
    stored_meta = {k: v for k, v in meta.items() if k != "fast_results"}
    json_path.write_text(
        json.dumps({"meta": stored_meta, **results}, indent=1) + "\n", encoding="utf-8"
    )
    if results["results"]:
        plot(results["results"], args.docs / "scale.png", results["fast_results"])
        write_section(args.docs / "benchmarks.md", SECTION, section(results["results"], meta))
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)
    print(args.docs / "benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
