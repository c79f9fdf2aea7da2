"""The saved model names no one: features are learnt from redacted texts."""

from __future__ import annotations

import pickle

import joblib
import pandas as pd
from conftest import DEMO, copy_workspace

from pipeline.stages import BY_NAME
from pipeline.workspace import load_workspace

PLANTED = [
    ("Tell Sergeant Wojciechowski at Lewisham to call me on 07845 332190 about the van.", "vawg"),
    ("My neighbour Priyanka Raghunathan, priyanka.r77@hotmail.co.uk, saw the dealing.", "drugs"),
    ("Dealers outside 14 Marlowe Crescent, SE13 7QP every night, more patrols please.", "drugs"),
]


def test_saved_model_holds_no_planted_personal_data(demo_ws, tmp_path):
    root = copy_workspace(DEMO, tmp_path / "ws")
    ws = load_workspace(root)
    q = ws.question("missing")
    labelled = pd.read_csv(ws.paths(q).labelled, dtype=str, keep_default_na=False)
    # each item in several comments, as when many people name the same officer or dealer:
    # TF-IDF keeps a term seen in at least 2 (words) or 3 (characters) comments
    openings = ("", "Again: ", "As I said, ", "Please note. ")
    extra = pd.DataFrame(
        [
            {"id": f"PD-{i}-{j}", "text": o + t, "labels": lab, "sample": "train"}
            for i, (t, lab) in enumerate(PLANTED)
            for j, o in enumerate(openings)
        ]
    )
    pd.concat([labelled, extra], ignore_index=True).fillna("").to_csv(
        ws.paths(q).labelled, index=False
    )
    BY_NAME["train"].run(ws, q)
    model_dir = ws.paths(q).model_dir
    blob = pickle.dumps(joblib.load(model_dir / "model.joblib")).lower()
    blob += (
        "".join(p.read_text(encoding="utf-8") for p in model_dir.glob("*.[jm][sd]*"))
        .lower()
        .encode()
    )
    for token in (
        "wojciechowski",
        "07845",
        "332190",
        "raghunathan",
        "priyanka",
        "hotmail",
        "marlowe",
        "se13 7qp",
    ):
        pieces = {token[i : i + 5] for i in range(len(token) - 4)}  # char n-grams up to 5
        found = [p for p in pieces if p.encode() in blob]
        assert not found, f"{token}: {found} in the saved model"
    assert b"police" in blob  # the vocabulary is in the pickle: the search above can find tokens
