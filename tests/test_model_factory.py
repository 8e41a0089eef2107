"""A study's own model factory (`[model] factory`): every engine calls it with the searched
parameters and only the context it declares; bad factories and space keys are one line;
a resume refuses a changed factory; an objective on its own metric; one CLI run."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpsearch.errors import ResumeMismatch, StudyError
from hpsearch.rundir.resume import check_resumable, factory_code
from hpsearch.runtime.provenance import provenance
from hpsearch.serve.submit import check_submission
from hpsearch.study.config import parse_study

from conftest import ROOT, run_cli
from test_engines import run_engine, study_text, synthetic

FACTORIES = Path(__file__).parent / "factories"
ENGINES = ("sklearn", "keras_tuner", "optuna")
VAL_AUC = 'objective = "val_auc"\ndirection = "maximize"\n'


def factory_study(
    factory: str,
    space: str,
    engines: tuple[str, ...] = ENGINES,
    path: Path | str = FACTORIES,
    extra: str = "",
    dataset: str = "fashion_mnist",
) -> str:
    """A 2-trial, 1-epoch study of `factory` (found in `path`)."""
    return f"""
[study]
name = "factory"
dataset = "{dataset}"
engines = {json.dumps(list(engines))}
seed = 3

[model]
factory = "{factory}"
path = "{path}"

[train]
epochs = 1
batch_size = 32

[space]
{space}

[sklearn]
n_iter = 2
cv = "validation"
n_jobs = 1  # fits in this process: the spy factories record their calls here

[keras_tuner]
max_trials = 2

[optuna]
n_trials = 2
{extra}"""


@pytest.fixture
def calls() -> list[dict]:
    """The spy factories' record of calls, emptied for the test."""
    parse_study(factory_study("spy_factories:spy_shape", ""))  # puts FACTORIES on sys.path
    spy = sys.modules["spy_factories"]
    spy.CALLS.clear()
    return spy.CALLS


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_calls_the_factory_with_its_space_and_declared_context(
    engine: str, calls: list[dict], tmp_path: Path
) -> None:
    space = 'units = [4, 6]\nlearning_rate = { low = 0.001, high = 0.01, log = true }\nactivation = "tanh"'
    study = parse_study(factory_study("spy_factories:spy_shape", space, (engine,)))
    result, reported = run_engine(engine, study, synthetic("fashion_mnist"), tmp_path)
    assert [r.status for r in reported] == ["ok", "ok"]
    assert result.model is not None and calls
    for call in calls:  # the context it declares, nothing else (no meta, no n_features ...)
        assert set(call) == {
            "units",
            "learning_rate",
            "activation",
            "input_shape",
            "n_outputs",
            "task",
        }
        assert call["units"] in (4, 6) and 0.001 <= call["learning_rate"] <= 0.01
        assert call["activation"] == "tanh"  # the study's value, not the factory's default
        assert (call["input_shape"], call["n_outputs"], call["task"]) == (
            (6,),
            10,
            "classification",
        )
    searched = {(r.params["units"], r.params["learning_rate"]) for r in reported}
    assert searched <= {(c["units"], c["learning_rate"]) for c in calls}
    assert result.model.predict(synthetic("fashion_mnist").x_val[:5]).shape == (5,)


@pytest.mark.parametrize("engine", ENGINES)
def test_meta_and_sizes_reach_a_factory_that_declares_them(
    engine: str, calls: list[dict], tmp_path: Path
) -> None:
    study = parse_study(factory_study("spy_factories:spy_meta", "units = [4, 6]", (engine,)))
    run_engine(engine, study, synthetic("fashion_mnist"), tmp_path)
    for call in calls:
        assert (call["n_features"], call["n_classes"]) == (6, 10)
        meta = call["meta"]
        assert (meta["n_features_in_"], meta["n_classes_"], meta["task"]) == (
            6,
            10,
            "classification",
        )


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
def test_an_objective_on_the_factory_s_own_metric(engine: str, tmp_path: Path) -> None:
    text = factory_study("spy_factories:spy_meta", "units = [4, 6]", (engine,))
    study = parse_study(text.replace(f"[{engine}]\n", f"[{engine}]\n{VAL_AUC}"))
    result, reported = run_engine(engine, study, synthetic("fashion_mnist"), tmp_path)
    assert {(r.metric, r.direction, r.status) for r in reported} == {("val_auc", "maximize", "ok")}
    assert 0 < result.best.val_score <= 1
    assert result.best.val_score == max(r.val_score for r in reported)


def test_an_unknown_objective_needs_its_direction_and_a_factory() -> None:
    text = factory_study("spy_factories:spy_meta", "units = 4", ("optuna",))
    with pytest.raises(
        StudyError,
        match=r"optuna\.direction: expected maximize or minimize "
        r"\(the direction of val_auc is not known\), got nothing",
    ):
        parse_study(text.replace("[optuna]\n", '[optuna]\nobjective = "val_auc"\n'))
    with pytest.raises(StudyError, match=r"optuna\.direction: expected maximize for val_accuracy"):
        parse_study(text.replace("[optuna]\n", '[optuna]\ndirection = "minimize"\n'))
    mlp = study_text("fashion_mnist", ("optuna",), "n_hidden = 1") + f"\n[optuna]\n{VAL_AUC}"
    with pytest.raises(StudyError, match=r"optuna\.objective: expected one of val_accuracy"):
        parse_study(mlp)  # hpsearch's MLP compiles no AUC


def test_a_space_key_the_factory_does_not_take_lists_what_it_takes() -> None:
    with pytest.raises(StudyError) as err:
        parse_study(factory_study("spy_factories:spy_meta", "units = 4\nn_hidden = 2"), "s.toml")
    assert str(err.value) == (
        "s.toml:18: space.n_hidden: expected a parameter of spy_factories:spy_meta "
        "(units, batch_size), got an unknown key 'n_hidden'"
    )
    # **kwargs takes any key, but never a context argument
    with pytest.raises(StudyError, match=r"space\.input_shape: expected a parameter"):
        parse_study(factory_study("spy_factories:spy_shape", "input_shape = 4"))  # context


@pytest.mark.parametrize(
    ("factory", "path", "found"),
    [
        ("no_such_module:f", FACTORIES, "ModuleNotFoundError: No module named 'no_such_module'"),
        (
            "spy_factories:missing",
            FACTORIES,
            "AttributeError: module 'spy_factories' has no attribute 'missing'",
        ),
        (
            "spy_factories:NOT_A_FUNCTION",
            FACTORIES,
            "TypeError: spy_factories:NOT_A_FUNCTION is a int, not a function",
        ),
    ],
)
def test_a_factory_that_cannot_be_imported_is_one_line(
    factory: str, path: Path, found: str
) -> None:
    with pytest.raises(StudyError) as err:
        parse_study(factory_study(factory, "", path=path), "s.toml")
    assert (
        str(err.value) == f"s.toml:9: model.factory: expected an importable function, got {found}"
    )


def test_bad_factory_names_and_paths_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        StudyError,
        match=r"s.toml:10: model.path: expected a folder \(relative to the study file\), got 'nowhere'",
    ):
        parse_study(factory_study("spy_factories:spy_shape", "", path="nowhere"), "s.toml")
    with pytest.raises(
        StudyError,
        match=r"model.factory: expected \"package.module:function\", got 'spy_factories.spy_shape'",
    ):
        parse_study(factory_study("spy_factories.spy_shape", ""), "s.toml")


def test_cli_validate_refuses_a_bad_factory_before_any_run_folder(tmp_path: Path) -> None:
    study = tmp_path / "s.toml"
    study.write_text(factory_study("spy_factories:missing", ""))
    for command in ("validate", "run"):
        done = run_cli(command, str(study), cwd=tmp_path, timeout=120)
        assert done.returncode == 2, done.stderr
        assert (
            "model.factory: expected an importable function" in done.stderr.strip().splitlines()[-1]
        )
    assert not (tmp_path / "results").exists()


def test_serve_takes_only_the_factories_its_operator_allowed(tmp_path, monkeypatch) -> None:
    with_path = factory_study("spy_factories:spy_shape", "units = 4", path="/tmp")
    allowed = ("spy_factories:spy_shape",)
    with pytest.raises(StudyError, match=r"model\.path: expected no \[model\] path in a study"):
        check_submission(with_path, "s.toml", tmp_path, [], allow_factories=allowed)
    text = "\n".join(line for line in with_path.splitlines() if not line.startswith("path ="))
    with pytest.raises(
        StudyError,
        match=r"model\.factory: expected a factory this server allows \(none: start serve "
        r"with --allow-factory MODULE:FUNCTION\), got 'spy_factories:spy_shape'",
    ):
        check_submission(text, "s.toml", tmp_path, [])
    with pytest.raises(StudyError, match=r"allows \(other:build\)"):
        check_submission(text, "s.toml", tmp_path, [], allow_factories=("other:build",))
    monkeypatch.syspath_prepend(str(FACTORIES))  # as if installed
    study = check_submission(text, "s.toml", tmp_path, [], allow_factories=allowed)
    assert study.factory == "spy_factories:spy_shape"


def test_a_resume_refuses_a_changed_factory(tmp_path: Path) -> None:
    source = tmp_path / "src" / "changing_factory.py"
    source.parent.mkdir()
    source.write_text((FACTORIES / "spy_factories.py").read_text())
    study_path = tmp_path / "s.toml"
    study_path.write_text(factory_study("changing_factory:spy_shape", "units = 4", path="src"))
    study = parse_study(study_path.read_text(), str(study_path))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "study.toml").write_text(study.text)
    info = {
        "source_path": str(study_path),
        "seed": study.seed,
        "engines": list(study.engines),
        "data_fingerprint": "x",
        "versions": provenance(factory_code(study)),
    }
    assert check_resumable(study, run_dir, info, None, None).factory == "changing_factory:spy_shape"
    source.write_text(source.read_text() + "\n# an edit\n")
    with pytest.raises(
        ResumeMismatch,
        match=r"cannot resume: the model factory's code changed since the run started",
    ):
        check_resumable(study, run_dir, info, None, None)


@pytest.mark.data
def test_a_cli_run_with_the_example_cnn(tmp_path: Path) -> None:
    study = tmp_path / "cnn.toml"
    study.write_text(
        factory_study(
            "cnn:build_cnn",
            "filters = [4, 8]\ndense = 16\nlearning_rate = { low = 1e-3, high = 3e-3 }",
            ("optuna",),
            path=ROOT / "examples",
        ).replace("seed = 3\n", "seed = 3\nmax_train_samples = 300\nmax_eval_samples = 100\n")
    )
    done = run_cli("run", str(study), "--quiet", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / done.stdout.strip().splitlines()[-1]
    assert json.loads((run_dir / "run.json").read_text())["model"] == "cnn:build_cnn"
    trials = pd.read_csv(run_dir / "trials.csv")
    assert set(trials["status"]) == {"ok"} and len(trials) == 2
    assert set(trials["param_filters"]) <= {4, 8} and set(trials["param_dense"]) == {16}
    from hpsearch.report.best import load_best

    x = np.zeros((3, 784), dtype=np.float32)
    assert load_best(run_dir, "optuna").predict(x).shape == (3,)  # the pickled factory


def test_the_example_cnn_gets_the_shape_of_image_samples(tmp_path: Path) -> None:
    """Samples of 8 x 8 (an NPZ of images): input_shape is theirs, not a flat width."""
    flat = synthetic("fashion_mnist", n=120)
    rng = np.random.default_rng(0)
    images = dataclasses.replace(
        flat,
        x_train=rng.random((len(flat.x_train), 8, 8), dtype=np.float32),
        x_val=rng.random((len(flat.x_val), 8, 8), dtype=np.float32),
    )
    text = factory_study(
        "cnn:build_cnn", "filters = 4\ndense = 8", ("keras_tuner",), ROOT / "examples"
    )
    result, reported = run_engine("keras_tuner", parse_study(text), images, tmp_path)
    assert [r.status for r in reported] == ["ok"]  # one distinct draw: a fixed space
    model = result.model.steps[-1][1].model_
    assert model.input_shape == (None, 8, 8)
    assert result.model.predict(images.x_val[:4]).shape == (4,)


def test_an_objective_the_model_does_not_compile_fails_its_trials_saying_so(
    tmp_path: Path,
) -> None:
    text = factory_study("spy_factories:spy_shape", "units = 4", ("optuna",))
    study = parse_study(text.replace("[optuna]\n", f"[optuna]\n{VAL_AUC}"))  # it has accuracy
    _, reported = run_engine("optuna", study, synthetic("fashion_mnist"), tmp_path)
    assert [r.error for r in reported] == [
        "the model reports no val_auc (it reports val_accuracy, val_loss)"
    ] * 2
