#!/usr/bin/env python
"""Measure embedding throughput and peak memory on a comments file, with an empty cache.

    .venv/bin/python scripts/bench_embed.py ../shared/benchmarks/nhs_fft/comments.csv

Every text goes through `pipeline.embed.embed_texts` exactly as `yousaid embed` sends it, into a
fresh cache in a temporary folder, so nothing is served from an earlier run. Repeated texts
("Did not answer") are embedded once, so throughput is given per input text and per unique text.
Prints one JSON object; the machine's load average is included because a shared machine slows
every figure down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("comments", type=Path, help="CSV/XLSX/parquet with a text column")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    args = parser.parse_args()

    import pandas as pd

    from pipeline.embed import embed_texts, load_model
    from pipeline.ingest import normalise_text
    from pipeline.tables import read_raw

    frame = read_raw(args.comments).frame
    texts = [normalise_text(t) for t in frame["text"].tolist()][: args.limit]
    load_before = os.getloadavg()
    rss_start = _peak_rss_mib()

    start = time.perf_counter()
    load_model(args.model)
    load_s = time.perf_counter() - start
    rss_model = _peak_rss_mib()

    with tempfile.TemporaryDirectory(prefix="bench-embed-") as cache:
        start = time.perf_counter()
        vectors, stats = embed_texts(
            texts, args.model, cache_dir=cache, batch_size=args.batch_size, progress=True
        )
        embed_s = time.perf_counter() - start
        start = time.perf_counter()
        _, again = embed_texts(texts, args.model, cache_dir=cache, progress=False)
        cached_s = time.perf_counter() - start

    import torch

    lengths = pd.Series([len(t) for t in texts])
    print(
        json.dumps(
            {
                "file": str(args.comments),
                "model": args.model,
                "texts": stats["texts"],
                "unique_texts": stats["unique_to_embed"],
                "mean_chars": round(float(lengths.mean()), 1),
                "dim": int(vectors.shape[1]),
                "model_load_s": round(load_s, 2),
                "embed_s": round(embed_s, 2),
                "texts_per_s": round(stats["texts"] / embed_s, 1),
                "unique_texts_per_s": round(stats["unique_to_embed"] / embed_s, 1),
                "rerun_all_cached_s": round(cached_s, 2),
                "rerun_computed": again["unique_to_embed"],
                "peak_rss_mib": round(_peak_rss_mib(), 1),
                "rss_after_imports_mib": round(rss_start, 1),
                "rss_after_model_load_mib": round(rss_model, 1),
                "batch_size": args.batch_size,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
