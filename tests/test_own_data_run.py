"""Your own table, end to end: every engine trains on a CSV with text labels, text columns and
missing values; the saved models take raw rows and answer with the labels; class weights
reach the loss in every engine."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch.run import runner
from hpsearch.study.config import parse_study

from conftest import DATA_DIR, run_cli

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"
ENGINES = ["sklearn", "keras_tuner", "optuna"]
TINY = """
[train]
epochs = 3
batch_size = 32

[space]
n_hidden = 1
n_neurons = [8, 16]
optimizer = "adam"
learning_rate = { low = 3e-3, high = 1e-2, log = true }

[sklearn]
n_iter = 2
cv = "validation"

[keras_tuner]
algorithm = "random"
max_trials = 2
patience = 1

[optuna]
n_trials = 2
patience = 1
"""


def test_penguins_from_the_command_line_predict_species_from_raw_rows(tmp_path):
    (tmp_path / "penguins.toml").write_text(
        f'[study]\nname = "penguins"\nengines = {json.dumps(ENGINES)}\nseed = 1\n\n'
        f'[data]\ntrain = "{PENGUINS}"\ntarget = "species"\ndrop = ["year"]\n' + TINY
    )
    done = run_cli("run", "penguins.toml", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / done.stdout.strip().splitlines()[-1]  # printed relative to cwd
    info = json.loads((run_dir / "run.json").read_text())
    assert info["classes"] == ["Adelie", "Chinstrap", "Gentoo"] and info["task"] == "classification"
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(summary["engine"]) == ENGINES and (summary["test_accuracy"] > 0.34).all()
    rows = pd.DataFrame(
        {
            "island": ["Biscoe", "Atlantis"],  # an island never seen in training
            "bill_length_mm": [46.5, 39.0],
            "bill_depth_mm": [14.8, np.nan],  # a missing value
            "flipper_length_mm": [217, 190],
            "body_mass_g": [5200, 3700],
            "sex": ["female", None],
            "species": ["ignored", "ignored"],
        }
    )
    rows.to_csv(tmp_path / "rows.csv", index=False)
    for engine in ENGINES:
        out = run_cli("predict", str(run_dir), "rows.csv", "--engine", engine, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        table = pd.read_csv(pd.io.common.StringIO(out.stdout))
        assert set(table["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}, table
        assert [c for c in table.columns if c.startswith("proba_")] == [
            "proba_Adelie",
            "proba_Chinstrap",
            "proba_Gentoo",
        ]
    rows.drop(columns=["sex"]).to_csv(tmp_path / "short.csv", index=False)
    bad = run_cli("predict", str(run_dir), "short.csv", cwd=tmp_path)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "short.csv: expected the training file's columns; missing: sex (expected island, "
            "bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex)"
        )
    )


def test_balanced_class_weights_reach_every_engines_fits(tmp_path, monkeypatch):
    import keras

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=80),
            "c": rng.choice(["u", "v"], 80),
            "y": ["rare"] * 16 + ["common"] * 64,
        }
    )
    frame.to_csv(tmp_path / "imbalanced.csv", index=False)
    seen: list[dict[str, Any]] = []
    fit = keras.Model.fit

    def spy(self, *args: Any, **kwargs: Any) -> Any:
        seen.append({k: kwargs.get(k) for k in ("class_weight", "sample_weight")})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)

    def run(weighting: str) -> list[dict[str, Any]]:
        seen.clear()
        text = (
            f'[study]\nname = "w"\nengines = {json.dumps(ENGINES)}\nseed = 2\n'
            f'output_dir = "{tmp_path / "out"}"\n\n[data]\ntrain = "imbalanced.csv"\n'
            f'target = "y"\n{weighting}\n'
            + TINY.replace("epochs = 3", "epochs = 1")
            .replace("max_trials = 2", "max_trials = 1")
            .replace("n_trials = 2", "n_trials = 1")
            .replace("n_iter = 2", "n_iter = 1")
        )
        runner.run_study(parse_study(text, str(tmp_path / "w.toml")))
        return list(seen)

    weighted = run('class_weight = "balanced"')
    dicts = [s["class_weight"] for s in weighted if s["class_weight"] is not None]
    samples = [s["sample_weight"] for s in weighted if s["sample_weight"] is not None]
    assert len(dicts) >= 2  # Keras Tuner's and Optuna's trials
    for weights in dicts:  # classes sorted: 0 = common, 1 = rare; balanced: n / (k * count)
        assert weights[1] > 2 * weights[0] and weights[0] == pytest.approx(
            len(frame) / (2 * 64), rel=0.2
        )
    assert samples and all(len(set(np.round(np.asarray(w), 6))) == 2 for w in samples)  # sklearn
    plain = run("")
    assert not any(s["class_weight"] or s["sample_weight"] is not None for s in plain)
