"""Train one question's classifier on its hand labels; stop early, with what to do, if too few."""

from __future__ import annotations

from pipeline.coding import train, training_labels
from pipeline.errors import NotReady
from pipeline.labelled import label_matrix, read_labelled
from pipeline.stages.base import Outcome, codebook, command
from pipeline.workspace import Question, Workspace


def check_enough(ws: Workspace, q: Question) -> None:
    """Refuse to train on too few labels, naming the commands that get more."""
    paths, s = ws.paths(q), ws.settings.classifier
    book = codebook(ws, q)
    more = (
        f"label more: `{command('label push', ws, q)}`, code them in Label Studio, "
        f"then `{command('label pull', ws, q)}`"
    )
    if not paths.labelled.exists():
        raise NotReady(f"{paths.labelled}: no hand labels yet; {more}")
    frame = training_labels(read_labelled(paths.labelled, book))
    Y = label_matrix(frame["labels"], book.ids)
    if not s.enough_labels(Y):
        learnable = s.learnable_themes(Y)
        raise NotReady(
            f"{paths.labelled}: {len(frame)} labelled comments to learn from (the audit sample is "
            f"kept apart), {learnable} themes with at least "
            f"{s.min_positives} examples; training needs {s.min_labelled} labelled comments and "
            f"one such theme: {more}"
        )


def run(ws: Workspace, q: Question) -> Outcome:
    check_enough(ws, q)
    paths, s = ws.paths(q), ws.settings.classifier
    metrics = train(
        paths.labelled,
        codebook(ws, q),
        paths.model_dir,
        embedding_model=ws.settings.embedding.model_name,
        cache_dir=ws.cache_dir,
        seed=ws.settings.seed,
        settings=s.estimator_params(),
        redaction_allow=ws.config.redaction_allow,
        redaction_patterns=ws.config.redaction_patterns,
    )
    line = (
        f"trained on {metrics['n_labelled']} labelled comments: cross-validated micro-F1 "
        f"{metrics['micro']['f1']:.3f}, macro-F1 {metrics['macro']['f1']:.3f}, in "
        f"{metrics['fit_seconds']:.0f} s"
        + (" (encoder fine-tuned on the labels)" if metrics["fine_tuned"] else "")
    )
    if metrics["untrained_themes"]:
        line += f"; too few labels to learn: {', '.join(metrics['untrained_themes'])}"
    return Outcome(
        {
            "model": paths.model_dir,
            "metrics": paths.model_dir / "metrics.json",
            "model_card": paths.model_dir / "MODEL_CARD.md",
        },
        line,
    )
