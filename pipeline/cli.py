"""The `yousaid` command: one subcommand per pipeline stage, I/O at this edge only."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
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


# --- ingest -------------------------------------------------------------------------------


def run_ingest(
    params: dict[str, Any], inputs: list[Path] | None = None, out: Path | None = None
) -> dict:
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
    return {**s, "comments": out, "rejected_table": rejected_path}


@app.command()
def ingest(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Export files (.csv/.xlsx/.parquet); default paths.input."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output parquet; default paths.comments.")
    ] = None,
    reject_bad_rows: Annotated[
        bool, typer.Option(help="Set bad rows aside with a reason instead of stopping.")
    ] = False,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Validate and normalise exports; flag non-answers."""
    p = load_params(params)
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
        shard_size=int(cfg.get("shard_size", 2048)),
    )
    out = write_embeddings(
        vectors, comments["id"].tolist(), cfg["model"], params["paths"]["embeddings"]
    )
    typer.echo(
        f"embedded {stats['texts']} comments with {cfg['model']}: "
        f"{stats['unique_to_embed']} computed, {stats['cached']} from cache",
        err=True,
    )
    return {"embeddings": out}


@app.command()
def embed(params: ParamsOpt = Path("params.yaml")) -> None:
    """Embed every comment (cached per text and model)."""
    typer.echo(run_embed(load_params(params))["embeddings"])


# --- discover -------------------------------------------------------------------------------


def _discovery_paths(params: dict[str, Any]) -> dict[str, Path]:
    out_dir = Path(params.get("discover", {}).get("out_dir") or "data/processed")
    return {
        "xlsx": out_dir / "discovery.xlsx",
        "html": out_dir / "discovery.html",
        "json": out_dir / "discovery.json",
        "suggestions": out_dir / "codebook_suggestions.yaml",
    }


def run_discover(params: dict[str, Any]) -> dict:
    import numpy as np
    import pandas as pd

    from pipeline import discovery_report as report
    from pipeline.codebook import load_codebook
    from pipeline.discover import DiscoverSettings, discover
    from pipeline.embed import load_model, read_embeddings

    paths = params["paths"]
    settings = DiscoverSettings.from_params(params.get("discover"))
    comments = pd.read_parquet(paths["comments"], columns=["id", "text", "substantive"])
    ids = comments["id"].astype(str).tolist()
    vectors = np.array(read_embeddings(paths["embeddings"], ids), dtype=np.float32)
    codebook = load_codebook(paths["codebook"])
    model = load_model(params["embedding"]["model"])
    result = discover(comments, vectors, codebook, model, settings, seed=int(params["seed"]))
    out = _discovery_paths(params)
    report.write_xlsx(result, out["xlsx"], settings.n_examples)
    report.write_html(result, codebook, out["html"])
    report.write_json(result, out["json"])
    s = result.summary
    typer.echo(
        f"{s['comments']} comments: {s['topics']} topics ({s['codebook_topics']} codebook, "
        f"{s['new_topics']} new), codebook themes found {len(s['themes_recovered'])}/"
        f"{len(codebook.ids)}, new-theme candidates {s['candidates']}, outliers "
        f"{s['outlier_share_before_reduction']:.1%} -> {s['outlier_share']:.1%}",
        err=True,
    )
    return {
        "discovery_xlsx": out["xlsx"],
        "discovery_html": out["html"],
        "discovery_json": out["json"],
    }


@app.command()
def discover(params: ParamsOpt = Path("params.yaml")) -> None:
    """Find the themes comments raise, also ones not in the codebook."""
    result = run_discover(load_params(params))
    typer.echo(result["discovery_xlsx"])
    typer.echo(result["discovery_html"])


codebook_app = typer.Typer(help="Work on the codebook (suggest new themes).", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")


@codebook_app.command("suggest")
def codebook_suggest(
    refresh: Annotated[
        bool, typer.Option(help="Run discovery again even if its results exist.")
    ] = False,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Write new-theme candidates as codebook YAML entries."""
    from pipeline import discovery_report as report
    from pipeline.codebook import load_codebook

    p = load_params(params)
    out = _discovery_paths(p)
    if refresh or not out["json"].exists():
        run_discover(p)
    codebook = load_codebook(p["paths"]["codebook"])
    text = report.suggestions_yaml(report.read_candidates(out["json"]), codebook)
    report.write_suggestions(text, out["suggestions"])
    typer.echo(f"wrote {out['suggestions']}", err=True)
    typer.echo(text, nl=False)


# --- train / code / evaluate ----------------------------------------------------------------


def _codebook(params: dict[str, Any], path: Path | None = None):
    from pipeline.codebook import load_codebook

    return load_codebook(path or params["paths"]["codebook"])


def run_train(
    params: dict[str, Any],
    labelled: Path | None = None,
    codebook: Path | None = None,
    out: Path | None = None,
    seed: int | None = None,
) -> dict:
    from pipeline.coding import train as train_model

    cfg = params["classifier"]
    out = out or Path(params["paths"]["model_dir"])
    metrics = train_model(
        labelled or Path(params["paths"]["labelled"]),
        _codebook(params, codebook),
        out,
        embedding_model=params["embedding"]["model"],
        cache_dir=params["paths"]["embedding_cache"],
        seed=params["seed"] if seed is None else seed,
        settings={k: cfg[k] for k in ("cv", "min_positives", "C_text", "C_embedding") if k in cfg},
    )
    typer.echo(
        f"trained on {metrics['n_labelled']} labelled comments: cross-validated micro-F1 "
        f"{metrics['micro']['f1']:.3f}, macro-F1 {metrics['macro']['f1']:.3f}",
        err=True,
    )
    if metrics["untrained_themes"]:
        typer.echo(f"too few labels to learn: {', '.join(metrics['untrained_themes'])}", err=True)
    return {"model": out, "metrics": out / "metrics.json", "model_card": out / "MODEL_CARD.md"}


@app.command()
def train(
    labelled: Annotated[
        Path | None, typer.Option(help="Labelled comments (table or Label Studio JSON).")
    ] = None,
    codebook: Annotated[Path | None, typer.Option(help="Codebook YAML.")] = None,
    out: Annotated[Path | None, typer.Option(help="Model directory to write.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Train the theme classifier on hand labels."""
    typer.echo(run_train(load_params(params), labelled, codebook, out, seed)["model"])


def _comments_for_coding(params: dict[str, Any], path: Path | None):
    """The ingested table as is, or any other export run through ingest's validation first."""
    import pandas as pd

    from pipeline.ingest import ingest as ingest_files

    path = path or Path(params["paths"]["comments"])
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if "substantive" in frame.columns:
            return frame
    cfg = params["ingest"]
    return ingest_files([path], columns=cfg.get("columns") or {}, sheet=cfg.get("sheet")).comments


def _stage_embeddings(params: dict[str, Any], frame, model_name: str):
    """The embed stage's memory-mapped vectors when they match this table and model, else None.

    Why: at 100k comments re-reading the per-text cache builds a second full copy of every vector;
    the .npy is already row-aligned, so code reads only the rows of each chunk from disk.
    """
    import json

    from pipeline.embed import read_embeddings

    path = Path(params["paths"]["embeddings"])
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("model") != model_name:
            return None
        return read_embeddings(path, frame["id"].astype(str).tolist())
    except (OSError, ValueError, YousaidError):
        return None


def run_code(
    params: dict[str, Any],
    model_dir: Path | None = None,
    comments: Path | None = None,
    out: Path | None = None,
) -> dict:
    from pipeline import modeldir
    from pipeline.coding import code as code_comments
    from pipeline.embed import embed_texts
    from pipeline.tables import write_table

    model = modeldir.load(model_dir or Path(params["paths"]["model_dir"]), _codebook(params))
    frame = _comments_for_coding(params, comments)
    vectors = (
        _stage_embeddings(params, frame, model.meta["embedding_model"])
        if comments is None
        else None
    )
    if vectors is None:
        vectors, _ = embed_texts(
            frame["text"].tolist(),
            model.meta["embedding_model"],
            cache_dir=params["paths"]["embedding_cache"],
        )
    coded = code_comments(
        frame,
        model,
        vectors,
        review_doubt=float(params["classifier"]["review_doubt"]),
        chunk_size=int(params["classifier"].get("chunk_size", 5000)),
    )
    outs = (
        [out]
        if out
        else [Path(params["paths"]["coded"]), Path(params["paths"]["coded"]).with_suffix(".csv")]
    )
    for path in outs:
        write_table(coded, path)
    sub = coded[coded["substantive"].astype(bool)] if "substantive" in coded else coded
    typer.echo(
        f"coded {len(coded)} comments ({len(sub)} substantive): {int((sub['labels'] != '').sum())} with a theme, "
        f"{int(coded['needs_review'].sum())} flagged for review",
        err=True,
    )
    if model.meta["untrained_themes"]:
        typer.echo(
            f"not coded (too few labels): {', '.join(model.meta['untrained_themes'])}", err=True
        )
    return {f"coded{p.suffix}": p for p in outs}


@app.command()
def code(
    model: Annotated[Path | None, typer.Option(help="Model directory.")] = None,
    comments: Annotated[Path | None, typer.Option(help="Comments table or raw export.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output .csv, .xlsx or .parquet.")] = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Code every comment: probabilities, codes, review flags."""
    for path in run_code(load_params(params), model, comments, out).values():
        typer.echo(path)


@app.command()
def evaluate(
    model: Annotated[Path | None, typer.Option(help="Model directory.")] = None,
    labelled: Annotated[Path | None, typer.Option(help="Held-out labelled comments.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the metrics JSON here too.")] = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Score a model on held-out labelled data."""
    import json

    from pipeline import modeldir
    from pipeline.coding import evaluate as evaluate_model
    from pipeline.embed import embed_texts
    from pipeline.labelled import read_labelled
    from pipeline.tables import write_atomic

    p = load_params(params)
    cb = _codebook(p)
    trained = modeldir.load(model or Path(p["paths"]["model_dir"]), cb)
    if labelled is None:
        raise typer.BadParameter(
            "--labelled is required: a held-out file the model was not trained on"
        )
    frame = read_labelled(labelled, cb)
    vectors, _ = embed_texts(
        frame["text"].tolist(),
        trained.meta["embedding_model"],
        cache_dir=p["paths"]["embedding_cache"],
    )
    metrics = evaluate_model(trained, frame, vectors)
    text = json.dumps(metrics, indent=2)
    if out:
        write_atomic(out, lambda path: path.write_text(text + "\n", encoding="utf-8"))
    typer.echo(text)


# --- label next ------------------------------------------------------------------------------

label_app = typer.Typer(
    help="Choose, push and pull comments for labelling in Label Studio.", no_args_is_help=True
)
app.add_typer(label_app, name="label")


def next_to_label(params: dict[str, Any], n: int, exclude: Iterable[str] = ()):
    """(comments frame, chosen row positions, probabilities or None, thresholds or None).

    Comments already in labelled.csv, and any in `exclude` (e.g. waiting in Label Studio), are
    never chosen.
    """
    import numpy as np
    import pandas as pd

    from pipeline import modeldir
    from pipeline.embed import embed_texts, read_embeddings
    from pipeline.labelled import read_labelled
    from pipeline.select import choose_next, theme_vectors, zero_shot_scores

    paths = params["paths"]
    comments = pd.read_parquet(paths["comments"])
    vectors = np.asarray(read_embeddings(paths["embeddings"], comments["id"].astype(str).tolist()))
    cb = _codebook(params)
    labelled_ids = [str(i) for i in exclude]
    if Path(paths["labelled"]).exists():
        labelled_ids += read_labelled(paths["labelled"], cb)["id"].tolist()
    probs = thresholds = None
    coded_path = Path(paths["coded"])
    if coded_path.exists() and Path(paths["model_dir"], "meta.json").exists():
        coded = pd.read_parquet(coded_path)
        model = modeldir.load(paths["model_dir"], cb)
        if coded["id"].astype(str).tolist() == comments["id"].astype(str).tolist():
            probs = coded[[f"prob_{t}" for t in model.theme_ids]].to_numpy()
            thresholds = np.asarray(model.meta["thresholds"])
    if probs is None:

        def embed(texts):
            return embed_texts(
                texts,
                params["embedding"]["model"],
                cache_dir=paths["embedding_cache"],
                progress=False,
            )[0]

        probs = zero_shot_scores(vectors, theme_vectors(cb, embed))
    chosen = choose_next(comments, vectors, probs, n, thresholds, labelled_ids, seed=params["seed"])
    return comments, chosen, probs, thresholds


@label_app.command("next")
def label_next(
    n: Annotated[int, typer.Option("--n", help="How many comments.")] = 50,
    out: Annotated[
        Path | None, typer.Option(help="Write the chosen comments to this table.")
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Choose what to label next: least certain, spread out."""
    from pipeline.tables import write_table

    comments, chosen, _, thresholds = next_to_label(load_params(params), n)
    picked = comments.iloc[chosen][["id", "text"]]
    how = (
        "model uncertainty"
        if thresholds is not None
        else "zero-shot codebook scores (no model yet)"
    )
    typer.echo(f"{len(picked)} comments chosen by {how}", err=True)
    if out:
        write_table(picked, out)
        typer.echo(out)
    else:
        for row in picked.itertuples():
            typer.echo(f"{row.id}\t{row.text}")


# --- label push / pull (Label Studio) --------------------------------------------------------

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Label Studio URL (else LABEL_STUDIO_URL, label.url).")
]


def _label_client(params: dict[str, Any], url: str | None):
    """A checked Label Studio client; a server that is down stops here, before anything is read."""
    from pipeline.labelstudio import connect, resolve_connection

    return connect(resolve_connection(params["label"]["url"], url))


def _label_title(params: dict[str, Any], codebook) -> str:
    return params["label"].get("project") or codebook.name or "yousaid"


def run_label_push(params: dict[str, Any], n: int | None = None, url: str | None = None) -> dict:
    import pandas as pd

    from pipeline import labelstudio as ls

    cfg, paths = params["label"], params["paths"]
    n = int(cfg["batch"] if n is None else n)
    cb = _codebook(params)
    client = _label_client(params, url)
    if not Path(paths["comments"]).exists():
        raise YousaidError(
            f"{paths['comments']}: no comments table yet; run `yousaid ingest` first"
        )
    comments = pd.read_parquet(paths["comments"])
    metadata = ls.metadata_columns(comments, cfg["metadata"])
    config = ls.label_config(cb, metadata)
    title = _label_title(params, cb)
    project = ls.ensure_project(client, title, config, cb.question, cfg["sampling"])
    existing = ls.project_tasks(client, project.id)
    chosen_ids: list[str] = []
    if n > 0:
        frame, chosen, _, _ = next_to_label(params, n, exclude=existing["comment_id"])
        chosen_ids = frame.iloc[chosen]["id"].astype(str).tolist()
    predictions = model_version = None
    if Path(paths["coded"]).exists():
        coded = pd.read_parquet(paths["coded"])
        predictions = ls.predictions_from_coded(coded, cb)
        if "model_version" in coded.columns and len(coded):
            model_version = str(coded["model_version"].iloc[0])
    result = ls.push(
        client, project, comments, chosen_ids, predictions, model_version, metadata, existing
    )
    preds = (
        f"{result.predictions_imported} pre-annotations from model {model_version}"
        if model_version
        else f"no pre-annotations (no {paths['coded']} yet)"
    )
    typer.echo(
        f"Label Studio project {project.id} '{project.title}'"
        f"{' (created)' if project.created else ''}: {result.tasks_created} tasks added, "
        f"{len(existing)} already there, {preds} ({result.seconds:.1f} s)",
        err=True,
    )
    return {
        "project_id": project.id,
        "tasks_created": result.tasks_created,
        "predictions": result.predictions_imported,
    }


def run_label_pull(params: dict[str, Any], url: str | None = None) -> dict:
    import pandas as pd

    from pipeline import labelstudio as ls

    cfg, paths = params["label"], params["paths"]
    cb = _codebook(params)
    client = _label_client(params, url)
    comments = pd.read_parquet(paths["comments"]) if Path(paths["comments"]).exists() else None
    result = ls.pull(
        client,
        _label_title(params, cb),
        cb,
        annotations_path=cfg["annotations"],
        labelled_path=paths["labelled"],
        agreement_path=cfg["agreement"],
        disagreements_path=cfg["disagreements"],
        comments=comments,
    )
    typer.echo(
        f"pulled {result.annotations} answers and {result.skipped} skips on "
        f"{result.tasks_exported} tasks ({result.appended} new to {cfg['annotations']}); "
        f"{result.labelled} comments labelled in Label Studio ({result.seconds:.1f} s)",
        err=True,
    )
    typer.echo(ls.agreement_summary(result.agreement, result.disagreements), err=True)
    return result.written


@label_app.command("push")
def label_push(
    n: Annotated[int | None, typer.Option("--n", help="New comments; default label.batch.")] = None,
    url: UrlOpt = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Send the next comments to Label Studio, with predictions."""
    run_label_push(load_params(params), n, url)


@label_app.command("pull")
def label_pull(url: UrlOpt = None, params: ParamsOpt = Path("params.yaml")) -> None:
    """Fetch labels from Label Studio; update labelled.csv; agreement."""
    for path in run_label_pull(load_params(params), url).values():
        typer.echo(path)


# --- report -------------------------------------------------------------------------------


def run_report(params: dict[str, Any], out_dir: Path | None = None) -> dict:
    from pipeline.report import build_report

    paths, cfg = params["paths"], params["report"]
    written = build_report(
        paths["coded"],
        paths["codebook"],
        out_dir or Path(cfg["out_dir"]),
        labelled=paths.get("labelled"),
        metrics=Path(paths["model_dir"]) / "metrics.json",
        embeddings=paths["embeddings"],
        responses=cfg.get("responses"),
        quotes=cfg.get("quotes"),
        cfg=cfg,
        seed=int(params.get("seed", 42)),
    )
    typer.echo("report written: " + ", ".join(str(p) for p in written.values()), err=True)
    return written


@app.command()
def report(
    out_dir: Annotated[
        Path | None, typer.Option(help="Output folder; default report.out_dir.")
    ] = None,
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Counts, breakdowns, quotes and the "you said, we did" report."""
    for path in run_report(load_params(params), out_dir).values():
        typer.echo(path)


# --- run ----------------------------------------------------------------------------------

STAGES = {
    "ingest": run_ingest,
    "embed": run_embed,
    "discover": run_discover,
    "train": run_train,
    "code": run_code,
    "report": run_report,
}


@app.command()
def run(params: ParamsOpt = Path("params.yaml")) -> None:
    """Run every stage (on the demo by default); list the outputs."""
    p = load_params(params)
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
