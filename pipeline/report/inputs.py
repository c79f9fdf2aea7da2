"""Reading what the report is built from, and merging hand labels over the model's codes.

Every reader validates against the codebook and fails with one line naming the file, so a
typo in responses.yaml or quotes.yaml stops the report instead of silently dropping a theme.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.codebook import Codebook
from pipeline.columns import code_col
from pipeline.errors import InputError
from pipeline.labelled import label_matrix, read_labelled, split_labels
from pipeline.manifest import check_coded

log = logging.getLogger(__name__)


def read_coded(path: str | Path, codebook: Codebook) -> pd.DataFrame:
    """The classifier's output; it must carry a 0/1 code column for every codebook theme.

    It must also be whole: the set `yousaid code` wrote (its manifest), not half of two runs.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no coded comments yet; run `yousaid code` first")
    check_coded(path)
    frame = pd.read_parquet(path)
    for col in ("id", "text", "substantive"):
        if col not in frame.columns:
            raise InputError(str(path), f"required column '{col}' is missing", column=col)
    missing = [code_col(t) for t in codebook.ids if code_col(t) not in frame.columns]
    if missing:
        raise InputError(
            str(path),
            f"no code columns for themes {', '.join(missing)}: coded with a different codebook? "
            "run `yousaid code` again",
            column=missing[0],
        )
    frame["id"] = frame["id"].astype(str)  # a fresh frame from disk: no copy needed
    frame["substantive"] = frame["substantive"].astype(bool)
    for t in codebook.ids:
        frame[code_col(t)] = frame[code_col(t)].fillna(0).astype(int).clip(0, 1)
    return frame.reset_index(drop=True)


def _check_stances(labelled: pd.DataFrame, codebook: Codebook, path: str) -> None:
    allowed = {f"{t.id}:{s.id}" for t in codebook.themes for s in t.stances}
    for row, value in zip(labelled["source_row"], labelled["stance"], strict=True):
        for item in split_labels(value):
            if item not in allowed:
                raise InputError(
                    path,
                    f"stance '{item}' is not theme:stance from the codebook "
                    f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
                    row=int(row),
                    column="stance",
                )


def apply_hand_labels(
    coded: pd.DataFrame, labelled: pd.DataFrame | None, codebook: Codebook
) -> pd.DataFrame:
    """Codes to report: hand labels replace the model's for the comments they cover.

    Adds `hand_labelled` (bool), `hand_sample` (the labelling stream) and `stance` (|-joined
    theme:stance, from hand labels, else from
    `stance_<theme>` columns of the coded data when the classifier wrote any). Sub-themes imply
    their parent theme, as in the codebook.
    """
    out = coded.copy()
    out["hand_labelled"] = False
    out["hand_sample"] = ""  # "audit" (blind random sample) or "train" for hand-labelled rows
    out["stance"] = ""
    for theme in codebook.themes:  # model stance, if the classifier provides one
        col = f"stance_{theme.id}"
        if theme.stances and col in out.columns:
            vals = out[col].fillna("").astype(str).str.strip()
            has = vals.ne("") & out[code_col(theme.id)].eq(1)
            out.loc[has, "stance"] = theme.id + ":" + vals[has]
    if labelled is not None and len(labelled):
        index = pd.Series(np.arange(len(out)), index=out["id"])
        known = labelled["id"].isin(index.index)
        if (~known).any():
            log.warning(
                "%d hand-labelled comments are not in the coded data; ignored", int((~known).sum())
            )
        lab = labelled[known]
        rows = index[lab["id"]].to_numpy()
        y = label_matrix(lab["labels"], codebook.ids)
        for j, t in enumerate(codebook.ids):
            out.loc[rows, code_col(t)] = y[:, j].astype(int)
        out.loc[rows, "hand_labelled"] = True
        samples = lab["sample"] if "sample" in lab.columns else pd.Series("train", index=lab.index)
        out.loc[rows, "hand_sample"] = samples.fillna("train").astype(str).to_numpy()
        out.loc[rows, "stance"] = lab["stance"].fillna("").astype(str).to_numpy()
    for theme in codebook.themes:
        parent = theme.group
        while parent:
            out[code_col(parent)] = out[[code_col(parent), code_col(theme.id)]].max(axis=1)
            parent = codebook.by_id[parent].group
    not_sub = ~out["substantive"]
    for t in codebook.ids:  # non-substantive comments are counted apart, never in a theme
        out.loc[not_sub, code_col(t)] = 0
    return out


def read_hand_labels(path: str | Path | None, codebook: Codebook) -> pd.DataFrame | None:
    if path is None or not Path(path).exists():
        log.info("no hand labels at %s: model codes only", path)
        return None
    frame = read_labelled(path, codebook)
    if "stance" not in frame.columns:
        frame["stance"] = ""
    frame["stance"] = frame["stance"].fillna("").astype(str)
    _check_stances(frame, codebook, str(path))
    return frame


def read_metrics(path: str | Path | None) -> dict | None:
    """Cross-validated per-theme metrics from training, or None (then probabilities are used)."""
    if path is None or not Path(path).exists():
        log.warning(
            "no classifier metrics at %s: intervals come from the probabilities alone", path
        )
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON ({exc})") from exc
    if not isinstance(data.get("per_theme"), dict):
        raise InputError(str(path), "expected a 'per_theme' mapping of theme metrics")
    return data


def _yaml_mapping(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a mapping at the top level")
    return data


def _theme_texts(path: Path, key: str, codebook: Codebook) -> dict[str, str]:
    """`key: {theme_id: text}` from an analyst's YAML file, every id checked against the codebook."""
    raw = _yaml_mapping(path).get(key) or {}
    if not isinstance(raw, dict):
        raise InputError(str(path), f"'{key}:' must map theme ids to text")
    out = {}
    for tid, text in raw.items():
        if str(tid) not in codebook.by_id:
            raise InputError(
                str(path), f"'{tid}' is not a theme id in {codebook.path or 'the codebook'}"
            )
        if text is not None and str(text).strip():
            out[str(tid)] = " ".join(str(text).split())
    return out


def read_responses(path: str | Path | None, codebook: Codebook) -> dict[str, str]:
    """`responses: {theme_id: text}`: what the final plan did about each theme ("we did")."""
    if path is None or not Path(path).exists():
        log.warning("no responses file at %s: every theme shows 'response pending'", path)
        return {}
    return _theme_texts(Path(path), "responses", codebook)


def read_summaries(path: str | Path | None, codebook: Codebook) -> dict[str, str]:
    """`summaries: {theme_id: text}`: the analyst's "you said" paragraph, replacing the draft."""
    if path is None or not Path(path).exists():
        return {}
    return _theme_texts(Path(path), "summaries", codebook)


@dataclass
class QuoteRules:
    pin: dict[str, list[str]] = field(default_factory=dict)  # theme id -> comment ids, in order
    ban: set[str] = field(default_factory=set)  # comment ids never quoted anywhere


def read_quote_rules(path: str | Path | None, codebook: Codebook) -> QuoteRules:
    """`pin: {theme_id: [comment ids]}` and `ban: [comment ids]` from labels/quotes.yaml."""
    if path is None or not Path(path).exists():
        return QuoteRules()
    path = Path(path)
    data = _yaml_mapping(path)
    pin_raw = data.get("pin") or {}
    ban_raw = data.get("ban") or []
    if not isinstance(pin_raw, dict):
        raise InputError(str(path), "'pin:' must map theme ids to lists of comment ids")
    if not isinstance(ban_raw, list):
        raise InputError(str(path), "'ban:' must be a list of comment ids")
    pin = {}
    for tid, ids in pin_raw.items():
        if str(tid) not in codebook.by_id:
            raise InputError(str(path), f"pin: '{tid}' is not a theme id in the codebook")
        if not isinstance(ids, list):
            raise InputError(str(path), f"pin: '{tid}' must list comment ids")
        pin[str(tid)] = [str(i) for i in ids]
    return QuoteRules(pin=pin, ban={str(i) for i in ban_raw})


def load_embeddings(path: str | Path | None, ids: list[str]) -> np.ndarray | None:
    """Row-aligned vectors for typical quotes, or None (quotes then rank on confidence only)."""
    from pipeline.embed import read_embeddings

    if path is None or not Path(path).exists():
        log.warning("no embeddings at %s: quotes are chosen by confidence, not typicality", path)
        return None
    vectors = np.asarray(read_embeddings(path, ids), dtype=np.float32)
    if vectors.shape[0] != len(ids):
        raise InputError(str(path), f"{vectors.shape[0]} rows but the coded data has {len(ids)}")
    return vectors
