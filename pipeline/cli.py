"""The `yousaid` command: one subcommand per pipeline stage, I/O at this edge only."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.config import load_params
from pipeline.errors import YousaidError
from pipeline.logs import setup_logging

log = logging.getLogger("yousaid")

app = typer.Typer(
    help="Code free-text consultation comments into themes, with analysts in the loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOpt = Annotated[Path, typer.Option("--params", help="Parameters file.")]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)


def _params(path: Path) -> dict[str, Any]:
    return load_params(path)


# --- ingest -------------------------------------------------------------------------------

def run_ingest(params: dict[str, Any], inputs: list[Path] | None = None, out: Path | None = None) -> dict:
    from pipeline.ingest import ingest
    from pipeline.tables import write_table

    cfg = params["ingest"]
    source = params["paths"]["input"]
    inputs = inputs or [Path(p) for p in ([source] if isinstance(source, str) else source)]
    result = ingest(
        inputs,
        columns=cfg.get("columns") or {},
        sheet=cfg.get("sheet"),
        on_bad_rows=cfg.get("on_bad_rows", "error"),
        extra_non_answers=cfg.get("extra_non_answers") or [],
    )
    out = out or Path(params["paths"]["comments"])
    write_table(result.comments, out)
    rejected_path = Path(params["paths"]["rejected"])
    write_table(result.rejected, rejected_path)
    s = result.summary
    for path, enc in result.encodings.items():
        if enc:
            typer.echo(f"{path}: encoding {enc}", err=True)
    typer.echo(
        f"rows read {s['rows_read']}: substantive {s['substantive']}, "
        f"flagged non-substantive {s['flagged_non_substantive']}, rejected {s['rejected']}",
        err=True,
    )
    return {"comments": out, "rejected": rejected_path, **s}


@app.command()
def ingest(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Export files (.csv/.xlsx/.parquet); default paths.input.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output parquet; default paths.comments.")] = None,
    reject_bad_rows: Annotated[bool, typer.Option(help="Set bad rows aside with a reason instead of stopping.")] = False,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Read, validate and normalise exports; flag non-answers; write the comments table."""
    p = _params(params)
    if reject_bad_rows:
        p["ingest"]["on_bad_rows"] = "reject"
    result = run_ingest(p, inputs, out)
    typer.echo(result["comments"])


# --- embed --------------------------------------------------------------------------------

def run_embed(params: dict[str, Any]) -> dict:
    import pandas as pd

    from pipeline.embed import embed_texts, write_embeddings

    cfg = params["embedding"]
    comments = pd.read_parquet(params["paths"]["comments"], columns=["id", "text"])
    vectors, stats = embed_texts(
        comments["text"].tolist(),
        cfg["model"],
        cache_dir=params["paths"]["embedding_cache"],
        batch_size=int(cfg.get("batch_size", 64)),
    )
    out = write_embeddings(vectors, comments["id"].tolist(), cfg["model"], params["paths"]["embeddings"])
    typer.echo(
        f"embedded {stats['texts']} comments with {cfg['model']}: "
        f"{stats['unique_to_embed']} computed, {stats['cached']} from cache",
        err=True,
    )
    return {"embeddings": out}


@app.command()
def embed(params: ParamsOpt = Path("params.yaml")) -> None:
    """Embed every comment with the configured sentence-transformers model (cached per text)."""
    typer.echo(run_embed(_params(params))["embeddings"])


# --- run ----------------------------------------------------------------------------------

STAGES = {"ingest": run_ingest, "embed": run_embed}


@app.command()
def run(params: ParamsOpt = Path("params.yaml")) -> None:
    """Run every stage on the configured input (the demo by default) and list what it made."""
    p = _params(params)
    timings, produced = [], []
    for name, stage in STAGES.items():
        start = time.perf_counter()
        log.info("stage %s ...", name)
        result = stage(p)
        timings.append((name, time.perf_counter() - start))
        produced.extend(v for v in result.values() if isinstance(v, Path))
    typer.echo("stage timings:", err=True)
    for name, seconds in timings:
        typer.echo(f"  {name:<10} {seconds:7.1f} s", err=True)
    typer.echo("produced:")
    for path in produced:
        typer.echo(f"  {path}")


def entry() -> None:
    try:
        app()
    except YousaidError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
