"""`hpsearch.search(...)` from a plain Python script: the same run folder as the command line,
a result with tables and models, a resume over the same data, and one-line refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpsearch.api import _apply, _base, _keep_data, _to_toml, search
from hpsearch.errors import InputError

from conftest import DATA_DIR, ROOT, run_cli

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"

SCRIPT = """
import sys
import pandas as pd
import hpsearch

frame = pd.read_csv(sys.argv[1])
result = hpsearch.search(
    frame, target="species", engines=["optuna"], n_trials=2, epochs=2, seed=5,
    space={"n_hidden": 1, "n_neurons": [8, 16], "optimizer": "adam"},
    optuna={"patience": 1}, drop=["year"], output_dir=sys.argv[2],
)
print(result.run_dir)
print(len(result.trials), list(result.summary["engine"]))
model = result.best_estimator()
print(list(model.predict(frame.head(3))))
"""


def test_a_plain_script_searches_a_dataframe_and_writes_a_run_folder(tmp_path):
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "script.py", str(PENGUINS), str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir, counts, predicted = done.stdout.strip().splitlines()[-3:]
    assert counts == "2 ['optuna']"
    assert set(eval(predicted)) <= {"Adelie", "Chinstrap", "Gentoo"}  # labels, not positions
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert (run_dir / "report.html").is_file() and (run_dir / "status.json").is_file()
    status = run_cli("status", str(run_dir), cwd=tmp_path)  # the command line reads it back
    assert status.returncode == 0 and ": finished" in status.stdout


def test_a_search_resumes_over_the_same_data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    options = dict(
        y=y,
        engines=["optuna"],
        n_trials=2,
        epochs=1,
        space={"n_hidden": 1, "n_neurons": 8, "optimizer": "adam"},
        output_dir=str(tmp_path / "out"),
        name="arrays",
    )
    first = search(x, **options)
    assert first.summary["n_trials"].tolist() == [2]
    # The same data and settings name the same files: an unfinished run of them resumes.
    info = json.loads((first.run_dir / "run.json").read_text())
    del info["finished_at"]
    (first.run_dir / "run.json").write_text(json.dumps(info))
    again = search(x, resume=first.run_dir, **options)  # the resume checks pass: same study
    assert again.run_dir == first.run_dir
    assert again.trials["trial"].tolist() == ["000", "001"]
    assert len(json.loads((first.run_dir / "run.json").read_text())["session_seconds"]) == 2
    with pytest.raises(Exception, match=r"cannot resume .*: dataset changed"):
        info = json.loads((first.run_dir / "run.json").read_text())
        del info["finished_at"]
        (first.run_dir / "run.json").write_text(json.dumps(info))
        search(x + 1, resume=first.run_dir, **options)


def test_settings_land_in_their_sections_and_the_toml_reads_back():
    import tomllib

    doc = _base({"study": {"name": "s", "dataset": "fashion_mnist"}, "train": {"epochs": 3}})
    _apply(
        doc,
        {
            "engines": ("sklearn", "optuna"),
            "n_trials": 4,
            "epochs": 5,
            "test_fraction": 0.25,
            "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}},
            "optuna": {"sampler": "random"},
        },
    )
    assert doc["sklearn"]["n_iter"] == 4 and doc["optuna"]["n_trials"] == 4
    assert "keras_tuner" not in doc and "dataset" not in doc["study"]
    back = tomllib.loads(_to_toml(doc))
    assert back["train"]["epochs"] == 5 and back["data"]["test_fraction"] == 0.25
    assert back["space"]["learning_rate"] == {"low": 1e-4, "high": 1e-2, "log": True}
    assert back["optuna"]["sampler"] == "random"


def test_bad_calls_are_one_line(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(InputError, match="unknown setting 'n_epochs'; expected one of"):
        _apply(_base(None), {"n_epochs": 3})
    with pytest.raises(InputError, match="expected target= naming a column"):
        _keep_data(frame, "label", None, tmp_path)
    with pytest.raises(InputError, match="the study's \\[data\\] is the data given"):
        _base({"data": {"train": "x.csv"}})
    with pytest.raises(InputError, match="expected y= with an array"):
        _keep_data(np.zeros((2, 2)), None, None, tmp_path)
    first = _keep_data(frame, "y", None, tmp_path)
    assert _keep_data(frame.copy(), "y", None, tmp_path) == first  # content-addressed
    assert _keep_data(frame.assign(a=[1.0, 3.0]), "y", None, tmp_path) != first


FACTORY_SCRIPT = """
import sys
import numpy as np
import keras
import hpsearch

calls = []

def build(units=8, *, n_features, n_classes):
    calls.append(units)
    model = keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(units, "relu"),
                              keras.layers.Dense(n_classes, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

rng = np.random.default_rng(0)
x = rng.normal(size=(150, 4)).astype("float32")
y = np.where(x[:, 0] > 0, "up", "down")
result = hpsearch.search(x, y=y, model=build, space={"units": [4, 12]}, engines=["optuna", "sklearn"],
                         n_trials=2, epochs=1, output_dir=sys.argv[1])
print(sorted(set(calls)), sorted(result.trials["param_units"].unique().tolist()))
print(list(result.best_estimator().predict(x[:2])))
"""


def test_a_factory_defined_in_the_script_is_searched(tmp_path):
    (tmp_path / "script.py").write_text(FACTORY_SCRIPT)
    done = subprocess.run(
        [sys.executable, "script.py", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    called, searched = done.stdout.strip().splitlines()[-2].split("] [")
    assert set(eval(called + "]")) <= {4, 12} and set(eval("[" + searched)) <= {4, 12}
    assert set(eval(done.stdout.strip().splitlines()[-1])) <= {"up", "down"}


def test_dask_refuses_a_factory_from_main(tmp_path, monkeypatch):
    import __main__
    from hpsearch.errors import StudyError
    from hpsearch.study.config import parse_study

    def build(units=8, *, n_features, n_classes):  # pragma: no cover - never called
        raise AssertionError

    monkeypatch.setattr(__main__, "build", build, raising=False)
    text = (
        '[study]\ndataset = "california_housing"\nengines = ["sklearn"]\n'
        '[model]\nfactory = "__main__:build"\n[space]\nunits = [4, 8]\n'
        '[sklearn]\nbackend = "dask"\n'
    )
    with pytest.raises(
        StudyError, match="sklearn.backend: expected backend = .loky. for a factory"
    ):
        parse_study(text, str(tmp_path / "t.toml"))
    assert parse_study(text.replace('backend = "dask"', ""), str(tmp_path / "t.toml"))


def test_hpsearch_search_stays_the_function_after_a_call():
    """A notebook calls `hpsearch.search(...)` again: the name must not have become the
    module that holds it (importing a submodule binds its name on the package)."""
    code = (
        "import hpsearch, hpsearch.api, hpsearch.run.runner\n"
        "first = hpsearch.search\n"
        "assert callable(first) and first is hpsearch.search, hpsearch.search\n"
        "print('function')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "function", done.stderr[-500:]
