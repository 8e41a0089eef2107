"""Study-file validation (hpsearch.study.config) and the CLI's handling of bad input (hpsearch.cli).

Fast: nothing here trains a model or loads a dataset.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

import hpsearch.run.opening
from hpsearch import engines
from hpsearch.cli import dispatch
from hpsearch.engines.keras_tuner.engine import TunerSettings
from hpsearch.engines.sklearn.engine import SklearnSettings
from hpsearch.errors import StudyError
from hpsearch.study.config import (
    MAX_PARAMETERS,
    SPACE_PARAMS,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    load_study,
    parse_study,
)

SK, KT = engines.get("sklearn"), engines.get("keras_tuner")

SRC = "/studies/s.toml"
# Two lines; every case below that starts with HEAD has its own content from line 3 on.
HEAD = '[study]\ndataset = "fashion_mnist"\n'
HEAD_CAL = '[study]\ndataset = "california_housing"\n'

FULL = """\
[study]
name = "full-study.v1"
dataset = "fashion_mnist"
engines = ["keras_tuner", "sklearn"]
seed = 7
data_dir = "/data/here"
output_dir = "out"
max_train_samples = 1000
max_eval_samples = 200

[train]
epochs = 5
batch_size = 64

[space]
n_hidden = {low = 1, high = 3}
n_neurons = {low = 16, high = 256, log = true}
activation = ["relu", "selu"]
optimizer = "sgd"
learning_rate = {low = 1e-4, high = 1e-1, log = true}
dropout = {low = 0.0, high = 0.5}
batch_size = [32, 128]

[sklearn]
n_iter = 4
cv = "validation"
scoring = "f1_macro"
n_jobs = -1
random_state = 3
patience = 2
validation_fraction = 0.25

[keras_tuner]
algorithm = "hyperband"
max_trials = 6
max_epochs = 9
factor = 4
objective = "val_loss"
patience = 1
"""


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch):
    """dispatch() installs a SIGTERM handler and cmd_run sets Keras env vars: undo both."""
    for var in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL"):
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:
            monkeypatch.delenv(var, raising=False)
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def expect_error(text: str, source: str = SRC) -> StudyError:
    with pytest.raises(StudyError) as info:
        parse_study(text, source)
    return info.value


def check_message(
    err: StudyError, key: str | None, line: int | None, expected: str, got: str, source: str = SRC
) -> None:
    """The one-line `FILE[:LINE]: KEY: expected ..., got ...` contract, checked exactly."""
    msg = str(err)
    where = source if line is None else f"{source}:{line}"
    prefix = f"{where}: {key}: " if key else f"{where}: "
    assert err.key == key, msg
    assert err.source == source
    assert msg.startswith(prefix + "expected "), msg
    head = f"{prefix}expected {err.expected}, got "
    assert msg.startswith(head), msg
    shown = msg[len(head) :]
    assert expected in err.expected, msg
    assert got in shown, msg
    assert "\n" not in msg


# ---------------------------------------------------------------- valid studies


def test_full_study_parses_into_the_right_objects():
    s = parse_study(FULL, SRC)
    assert s.name == "full-study.v1"
    assert s.dataset == "fashion_mnist"
    assert s.source == SRC and s.text == FULL
    assert s.engines == ("keras_tuner", "sklearn")  # the study's order is kept
    assert s.seed == 7
    assert s.data_dir == "/data/here" and s.output_dir == "out"
    assert s.max_train_samples == 1000 and s.max_eval_samples == 200
    assert s.epochs == 5 and s.batch_size == 64

    assert set(s.space) == set(SPACE_PARAMS)
    assert s.space["dropout"] == FloatRange(0.0, 0.5, False)
    assert s.space["batch_size"] == Choice((32, 128))
    assert s.space["n_hidden"] == IntRange(1, 3, False)
    assert s.space["n_neurons"] == IntRange(16, 256, True)
    assert s.space["activation"] == Choice(("relu", "selu"))
    assert s.space["optimizer"] == Fixed("sgd")
    lr = s.space["learning_rate"]
    assert isinstance(lr, FloatRange) and lr.log is True
    assert lr.low == pytest.approx(1e-4) and lr.high == pytest.approx(0.1)
    for name in ("n_hidden", "n_neurons"):
        r = s.space[name]
        assert type(r) is IntRange and type(r.low) is int and type(r.high) is int

    assert s.settings["sklearn"] == SklearnSettings(
        n_iter=4,
        cv="validation",
        scoring="f1_macro",
        n_jobs=-1,
        random_state=3,
        patience=2,
        validation_fraction=0.25,
    )
    assert s.settings["keras_tuner"] == TunerSettings(
        algorithm="hyperband",
        max_trials=6,
        max_epochs=9,
        factor=4,
        objective="val_loss",
        patience=1,
    )
    assert s.task == "classification"
    assert SK.scoring(s) == "f1_macro"  # explicit settings win over the task defaults
    assert SK.metric(s) == ("f1_macro", "maximize")
    assert KT.metric(s) == ("val_loss", "minimize")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.epochs = 1  # type: ignore[misc]


def test_minimal_study_gets_every_default():
    s = parse_study(HEAD + 'name = "m"\n', SRC)
    assert s.engines == engines.defaults() == ("sklearn", "keras_tuner")
    assert s.seed == 42 and s.data_dir is None and s.output_dir == "results"
    assert s.max_train_samples is None and s.max_eval_samples is None
    assert s.epochs == 10 and s.batch_size == 32
    assert s.space == {
        "n_hidden": Fixed(2),
        "n_neurons": Fixed(100),
        "activation": Fixed("relu"),
        "optimizer": Fixed("adam"),
        "learning_rate": Fixed(1e-3),
    }
    # dropout and batch_size are in a study's space only when it names them
    assert s.settings["sklearn"] == SklearnSettings()
    assert (
        s.settings["sklearn"].cv == 3
        and s.settings["sklearn"].n_iter == 10
        and s.settings["sklearn"].random_state is None
    )
    assert s.settings["keras_tuner"] == TunerSettings()
    assert (
        s.settings["keras_tuner"].algorithm == "random"
        and s.settings["keras_tuner"].max_trials == 10
    )


@pytest.mark.parametrize(
    "dataset, task, scoring, objective",
    [
        ("fashion_mnist", "classification", "accuracy", "val_accuracy"),
        (
            "california_housing",
            "regression",
            "neg_root_mean_squared_error",
            "val_root_mean_squared_error",
        ),
    ],
)
def test_task_scoring_objective_per_dataset(dataset, task, scoring, objective):
    s = parse_study(f'[study]\nname = "d"\ndataset = "{dataset}"\n', SRC)
    assert (s.task, SK.scoring(s), KT.objective(s)) == (task, scoring, objective)


def test_regression_objective_and_integer_cv():
    s = parse_study(
        HEAD_CAL + 'name = "r"\n[sklearn]\ncv = 5\n'
        '[keras_tuner]\nobjective = "val_root_mean_squared_error"\n',
        SRC,
    )
    assert s.settings["sklearn"].cv == 5
    assert KT.metric(s) == ("val_root_mean_squared_error", "minimize")
    # sklearn's neg_ scorer is reported as the positive error, lower is better
    assert SK.metric(s) == ("root_mean_squared_error", "minimize")


def test_numbers_are_typed_by_parameter():
    s = parse_study(
        HEAD + 'name = "n"\n[space]\nn_hidden = [0, 1, 4]\nn_neurons = 64\n'
        "learning_rate = [0.01, 1]\n",
        SRC,
    )
    assert s.space["n_hidden"] == Choice((0, 1, 4))
    assert s.space["n_neurons"] == Fixed(64) and type(s.space["n_neurons"].value) is int
    assert s.space["learning_rate"] == Choice((0.01, 1.0))
    assert all(type(v) is float for v in s.space["learning_rate"].values)

    s = parse_study(HEAD + 'name = "n"\n[space]\nlearning_rate = 1\n', SRC)
    assert s.space["learning_rate"] == Fixed(1.0) and type(s.space["learning_rate"].value) is float
    # integer bounds for a float parameter make a FloatRange of floats, log off by default
    s = parse_study(HEAD + 'name = "n"\n[space]\nlearning_rate = {low = 1, high = 2}\n', SRC)
    lr = s.space["learning_rate"]
    assert lr == FloatRange(1.0, 2.0, False) and type(lr) is FloatRange and type(lr.low) is float
    # low == high is a (degenerate) valid range
    s = parse_study(HEAD + 'name = "n"\n[space]\nn_neurons = {low = 8, high = 8}\n', SRC)
    assert s.space["n_neurons"] == IntRange(8, 8)


def test_load_study_names_the_study_after_the_file(tmp_path):
    path = tmp_path / "my_study.toml"
    path.write_text(HEAD, encoding="utf-8")
    s = load_study(path)
    assert s.name == "my_study" and s.source == str(path) and s.text == HEAD


# ---------------------------------------------------------------- bad studies

# (id, text, key, line or None, fragment of "expected", fragment of "got")
BAD = [
    ("empty", "", None, None, "a TOML study with a [study] table", "an empty file"),
    ("blank", "  \n\n\t\n", None, None, "a [study] table", "an empty file"),
    ("invalid-toml", HEAD + "[train]\nepochs = \n", None, 4, "valid TOML", "line 4"),
    ("invalid-toml-header", HEAD + "[train\n", None, 3, "valid TOML", "line 3"),
    (
        "unknown-table",
        HEAD + "[sklern]\nn_iter = 3\n",
        "sklern",
        3,
        "(did you mean 'sklearn'?)",
        "an unknown key 'sklern'",
    ),
    ("table-not-table", "train = 5\n" + HEAD, "train", 1, "a table", "5"),
    (
        "unknown-space-key",
        HEAD + "[space]\nn_hidden = 1\nn_neuron = 30\n",
        "space.n_neuron",
        5,
        "(did you mean 'n_neurons'?)",
        "an unknown key 'n_neuron'",
    ),
    (
        "unknown-study-key",
        HEAD + 'engine = ["sklearn"]\n',
        "study.engine",
        3,
        "(did you mean 'engines'?)",
        "an unknown key 'engine'",
    ),
    (
        "unknown-train-key",
        HEAD + "[train]\nepoch = 3\n",
        "train.epoch",
        4,
        "(did you mean 'epochs'?)",
        "an unknown key 'epoch'",
    ),
    (
        "unknown-tuner-key",
        HEAD + "[keras_tuner]\nmax_trial = 3\n",
        "keras_tuner.max_trial",
        4,
        "(did you mean 'max_trials'?)",
        "an unknown key 'max_trial'",
    ),
    (
        "unknown-range-key",
        HEAD + "[space]\nn_neurons = {low = 1, hi = 5}\n",
        "space.n_neurons.hi",
        None,
        "one of low, high, log",
        "an unknown key 'hi'",
    ),
    # wrong types
    ("epochs-string", HEAD + '[train]\nepochs = "ten"\n', "train.epochs", 4, "an integer", "'ten'"),
    (
        "batch-size-float",
        HEAD + "[train]\nbatch_size = 3.5\n",
        "train.batch_size",
        4,
        "an integer",
        "3.5",
    ),
    ("epochs-bool", HEAD + "[train]\nepochs = true\n", "train.epochs", 4, "an integer", "True"),
    ("seed-bool", HEAD + "seed = false\n", "study.seed", 3, "an integer", "False"),
    ("n-iter-bool", HEAD + "[sklearn]\nn_iter = true\n", "sklearn.n_iter", 4, "an integer", "True"),
    ("cv-bool", HEAD + "[sklearn]\ncv = true\n", "sklearn.cv", 4, "an integer or a string", "True"),
    ("cv-float", HEAD + "[sklearn]\ncv = 3.0\n", "sklearn.cv", 4, "an integer or a string", "3.0"),
    (
        "fraction-string",
        HEAD + '[sklearn]\nvalidation_fraction = "0.1"\n',
        "sklearn.validation_fraction",
        4,
        "a number",
        "'0.1'",
    ),
    (
        "n-neurons-bool",
        HEAD + "[space]\nn_neurons = true\n",
        "space.n_neurons",
        4,
        "an integer, a list of choices, or a {low, high} range",
        "True",
    ),
    (
        "n-neurons-float",
        HEAD + "[space]\nn_neurons = 64.0\n",
        "space.n_neurons",
        4,
        "an integer, a list of choices",
        "64.0",
    ),
    (
        "lr-string",
        HEAD + '[space]\nlearning_rate = "fast"\n',
        "space.learning_rate",
        4,
        "a number, a list of choices",
        "'fast'",
    ),
    (
        "activation-int",
        HEAD + "[space]\nactivation = 3\n",
        "space.activation",
        4,
        "a string, a list of choices",
        "3",
    ),
    (
        "choice-mixed",
        HEAD + '[space]\nn_hidden = [1, "2"]\n',
        "space.n_hidden",
        4,
        "a list of an integer values",
        "[1, '2']",
    ),
    (
        "choice-bool",
        HEAD + "[space]\nn_hidden = [1, true]\n",
        "space.n_hidden",
        4,
        "a list of an integer values",
        "[1, True]",
    ),
    (
        "range-float-bound",
        HEAD + "[space]\nn_neurons = {low = 1.5, high = 10}\n",
        "space.n_neurons.low",
        None,
        "an integer",
        "1.5",
    ),
    (
        "range-log-string",
        HEAD + '[space]\nn_neurons = {low = 1, high = 10, log = "yes"}\n',
        "space.n_neurons.log",
        None,
        "true or false",
        "'yes'",
    ),
    (
        "range-missing-high",
        HEAD + "[space]\nn_neurons = {low = 1}\n",
        "space.n_neurons",
        4,
        "a range with both 'low' and 'high'",
        "{'low': 1}",
    ),
    ("engines-string", HEAD + 'engines = "sklearn"\n', "study.engines", 3, "a list", "'sklearn'"),
    # ranges
    (
        "int-low-gt-high",
        HEAD + "[space]\nn_neurons = {low = 200, high = 10}\n",
        "space.n_neurons",
        4,
        "low <= high",
        "low = 200, high = 10",
    ),
    (
        "float-low-gt-high",
        HEAD + "[space]\nlearning_rate = {low = 0.1, high = 0.001}\n",
        "space.learning_rate",
        4,
        "low <= high",
        "low = 0.1, high = 0.001",
    ),
    (
        "log-low-zero",
        HEAD + "[space]\nlearning_rate = {low = 0.0, high = 0.1, log = true}\n",
        "space.learning_rate",
        4,
        "low > 0 for a log-scale range",
        "low = 0.0",
    ),
    (
        "log-low-negative",
        HEAD + "[space]\nlearning_rate = {low = -1e-3, high = 0.1, log = true}\n",
        "space.learning_rate",
        4,
        "low > 0 for a log-scale range",
        "low = -0.001",
    ),
    (
        "int-log-low-zero",
        HEAD + "[space]\nn_hidden = {low = 0, high = 3, log = true}\n",
        "space.n_hidden",
        4,
        "low > 0 for a log-scale range",
        "low = 0",
    ),
    # non-positive numbers
    (
        "lr-zero",
        HEAD + "[space]\nlearning_rate = 0\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "0.0",
    ),
    (
        "lr-negative",
        HEAD + "[space]\nlearning_rate = -0.01\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "-0.01",
    ),
    (
        "lr-absurd",
        HEAD + "[space]\nlearning_rate = 10\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "10.0",
    ),
    (
        "lr-nan",
        HEAD + "[space]\nlearning_rate = nan\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "nan",
    ),
    (
        "lr-choice-negative",
        HEAD + "[space]\nlearning_rate = [0.01, -1]\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "-1.0",
    ),
    (
        "lr-range-negative",
        HEAD + "[space]\nlearning_rate = {low = -0.5, high = 0.1}\n",
        "space.learning_rate",
        4,
        "values in (0, 10)",
        "-0.5",
    ),
    ("epochs-zero", HEAD + "[train]\nepochs = 0\n", "train.epochs", 4, "a value >= 1", "0"),
    ("epochs-negative", HEAD + "[train]\nepochs = -5\n", "train.epochs", 4, "a value >= 1", "-5"),
    (
        "epochs-absurd",
        HEAD + "[train]\nepochs = 10001\n",
        "train.epochs",
        4,
        "a value <= 10,000",
        "10001",
    ),
    ("batch-zero", HEAD + "[train]\nbatch_size = 0\n", "train.batch_size", 4, "a value >= 1", "0"),
    (
        "batch-negative",
        HEAD + "[train]\nbatch_size = -32\n",
        "train.batch_size",
        4,
        "a value >= 1",
        "-32",
    ),
    ("cv-one", HEAD + "[sklearn]\ncv = 1\n", "sklearn.cv", 4, "a value >= 2", "1"),
    ("cv-zero", HEAD + "[sklearn]\ncv = 0\n", "sklearn.cv", 4, "a value >= 2", "0"),
    ("cv-negative", HEAD + "[sklearn]\ncv = -3\n", "sklearn.cv", 4, "a value >= 2", "-3"),
    ("n-iter-zero", HEAD + "[sklearn]\nn_iter = 0\n", "sklearn.n_iter", 4, "a value >= 1", "0"),
    (
        "n-iter-negative",
        HEAD + "[sklearn]\nn_iter = -2\n",
        "sklearn.n_iter",
        4,
        "a value >= 1",
        "-2",
    ),
    (
        "n-jobs-zero",
        HEAD + "[sklearn]\nn_jobs = 0\n",
        "sklearn.n_jobs",
        4,
        'a positive integer, -1 (every core) or "auto"',
        "0",
    ),
    (
        "n-jobs-minus-two",
        HEAD + "[sklearn]\nn_jobs = -2\n",
        "sklearn.n_jobs",
        4,
        'a positive integer, -1 (every core) or "auto"',
        "-2",
    ),
    (
        "fraction-one",
        HEAD + "[sklearn]\nvalidation_fraction = 1\n",
        "sklearn.validation_fraction",
        4,
        "a fraction in (0, 1)",
        "1",
    ),
    (
        "fraction-zero",
        HEAD + "[sklearn]\nvalidation_fraction = 0.0\n",
        "sklearn.validation_fraction",
        4,
        "a fraction in (0, 1)",
        "0.0",
    ),
    (
        "sk-patience-negative",
        HEAD + "[sklearn]\npatience = -1\n",
        "sklearn.patience",
        4,
        "a value >= 0",
        "-1",
    ),
    (
        "max-trials-zero",
        HEAD + "[keras_tuner]\nmax_trials = 0\n",
        "keras_tuner.max_trials",
        4,
        "a value >= 1",
        "0",
    ),
    (
        "max-trials-negative",
        HEAD + "[keras_tuner]\nmax_trials = -4\n",
        "keras_tuner.max_trials",
        4,
        "a value >= 1",
        "-4",
    ),
    (
        "max-epochs-zero",
        HEAD + "[keras_tuner]\nmax_epochs = 0\n",
        "keras_tuner.max_epochs",
        4,
        "a value >= 1",
        "0",
    ),
    (
        "factor-one",
        HEAD + "[keras_tuner]\nfactor = 1\n",
        "keras_tuner.factor",
        4,
        "a value >= 2",
        "1",
    ),
    ("seed-negative", HEAD + "seed = -1\n", "study.seed", 3, "an integer in [0, 4294967295]", "-1"),
    (
        "seed-too-big",
        HEAD + "seed = 4294967296\n",
        "study.seed",
        3,
        "an integer in [0,",
        "4294967296",
    ),
    (
        "random-state-negative",
        HEAD + "[sklearn]\nrandom_state = -5\n",
        "sklearn.random_state",
        4,
        "an integer in [0,",
        "-5",
    ),
    (
        "scoring-wrong-task",
        HEAD_CAL + '[sklearn]\nscoring = "accuracy"\n',
        "sklearn.scoring",
        4,
        "one of neg_root_mean_squared_error",
        "'accuracy'",
    ),
    (
        "max-train-tiny",
        HEAD + "max_train_samples = 5\n",
        "study.max_train_samples",
        3,
        "a value >= 10",
        "5",
    ),
    (
        "max-eval-zero",
        HEAD + "max_eval_samples = 0\n",
        "study.max_eval_samples",
        3,
        "a value >= 10",
        "0",
    ),
    # unknown names
    (
        "unknown-dataset",
        '[study]\nname = "x"\ndataset = "fashion-mnist"\n',
        "study.dataset",
        3,
        "(did you mean 'fashion_mnist'?)",
        "'fashion-mnist'",
    ),
    (
        "unknown-dataset-far",
        '[study]\ndataset = "imagenet"\n',
        "study.dataset",
        2,
        "one of fashion_mnist, california_housing",
        "'imagenet'",
    ),
    (
        "unknown-engine",
        HEAD + 'engines = ["sklearn", "keras-tuner"]\n',
        "study.engines",
        3,
        "(did you mean 'keras_tuner'?)",
        "'keras-tuner'",
    ),
    (
        "unknown-optimizer",
        HEAD + '[space]\noptimizer = "adma"\n',
        "space.optimizer",
        4,
        "(did you mean 'adam'?)",
        "'adma'",
    ),
    (
        "unknown-optimizer-choice",
        HEAD + '[space]\noptimizer = ["sgd", "rmsprob"]\n',
        "space.optimizer",
        4,
        "(did you mean 'rmsprop'?)",
        "'rmsprob'",
    ),
    (
        "unknown-activation",
        HEAD + '[space]\nactivation = "rellu"\n',
        "space.activation",
        4,
        "(did you mean 'relu'?)",
        "'rellu'",
    ),
    (
        "unknown-algorithm",
        HEAD + '[keras_tuner]\nalgorithm = "grid"\n',
        "keras_tuner.algorithm",
        4,
        "one of random, hyperband, bayesian",
        "'grid'",
    ),
    (
        "unknown-algorithm-typo",
        HEAD + '[keras_tuner]\nalgorithm = "hyperbnd"\n',
        "keras_tuner.algorithm",
        4,
        "(did you mean 'hyperband'?)",
        "'hyperbnd'",
    ),
    (
        "unknown-objective",
        HEAD + '[keras_tuner]\nobjective = "val_acc"\n',
        "keras_tuner.objective",
        4,
        "(did you mean 'val_accuracy'?)",
        "'val_acc'",
    ),
    (
        "objective-wrong-task",
        HEAD_CAL + '[keras_tuner]\nobjective = "val_accuracy"\n',
        "keras_tuner.objective",
        4,
        "one of val_root_mean_squared_error, val_loss",
        "'val_accuracy'",
    ),
    (
        "unknown-scoring",
        HEAD + '[sklearn]\nscoring = "accuracyy"\n',
        "sklearn.scoring",
        4,
        "(did you mean 'accuracy'?)",
        "'accuracyy'",
    ),
    # choices and sizes
    (
        "empty-choice",
        HEAD + "[space]\nn_neurons = []\n",
        "space.n_neurons",
        4,
        "a non-empty list of choices",
        "[]",
    ),
    (
        "empty-choice-str",
        HEAD + "[space]\nactivation = []\n",
        "space.activation",
        4,
        "a non-empty list of choices",
        "[]",
    ),
    (
        "n-neurons-absurd",
        HEAD + "[space]\nn_neurons = 1000000000\n",
        "space.n_neurons",
        4,
        "values in [1, 16384]",
        "1000000000",
    ),
    (
        "n-neurons-zero",
        HEAD + "[space]\nn_neurons = 0\n",
        "space.n_neurons",
        4,
        "values in [1, 16384]",
        "0",
    ),
    (
        "n-neurons-range-absurd",
        HEAD + "[space]\nn_neurons = {low = 10, high = 100000}\n",
        "space.n_neurons",
        4,
        "values in [1, 16384]",
        "100000",
    ),
    (
        "n-hidden-absurd",
        HEAD + "[space]\nn_hidden = 1000\n",
        "space.n_hidden",
        4,
        "values in [0, 64]",
        "1000",
    ),
    (
        "n-hidden-negative",
        HEAD + "[space]\nn_hidden = [-1, 2]\n",
        "space.n_hidden",
        4,
        "values in [0, 64]",
        "-1",
    ),
    (
        "parameter-cap",
        HEAD + "[space]\nn_hidden = 10\nn_neurons = 5000\n",
        "space.n_neurons",
        5,
        f"a model under {MAX_PARAMETERS:,} parameters",
        "n_hidden=10, n_neurons=5000",
    ),
    (
        "parameter-cap-ranges",
        HEAD + "[space]\nn_neurons = [100, 4000]\nn_hidden = {low = 1, high = 20}\n",
        "space.n_neurons",
        4,
        "a model under 200,000,000 parameters",
        "n_hidden=20, n_neurons=4000",
    ),
    (
        "parameter-cap-regression",
        HEAD_CAL + "[space]\nn_hidden = 64\nn_neurons = 16384\n",
        "space.n_neurons",
        5,
        "a model under 200,000,000 parameters",
        "n_hidden=64, n_neurons=16384",
    ),
    (
        "encoding-typo",
        HEAD + '[train]\nencoding = "piecewise"\n',
        "train.encoding",
        4,
        "one of standard, piecewise_linear, none",
        "'piecewise'",
    ),
    ("bins-one", HEAD + "[train]\nbins = 1\n", "train.bins", 4, ">= 2", "1"),
    ("bins-huge", HEAD + "[train]\nbins = 5000\n", "train.bins", 4, "<= 1,024", "5000"),
    (
        "dropout-one",
        HEAD + "[space]\ndropout = [0.2, 1.0]\n",
        "space.dropout",
        4,
        "values in [0, 1)",
        "1.0",
    ),
    (
        "dropout-negative",
        HEAD + "[space]\ndropout = {low = -0.1, high = 0.5}\n",
        "space.dropout",
        4,
        "values in [0, 1)",
        "-0.1",
    ),
    (
        "space-batch-size-zero",
        HEAD + "[space]\nbatch_size = [0, 32]\n",
        "space.batch_size",
        4,
        "values in [1, 1,000,000]",
        "0",
    ),
    (
        "space-batch-size-float",
        HEAD + "[space]\nbatch_size = 32.5\n",
        "space.batch_size",
        4,
        "integer, a list of choices, or a {low, high} range",
        "32.5",
    ),
    # missing / duplicated / misplaced
    (
        "missing-dataset",
        '[study]\nname = "x"\n',
        "study.dataset",
        None,
        "one of fashion_mnist, california_housing",
        "nothing",
    ),
    (
        "missing-study-table",
        "[train]\nepochs = 3\n",
        "study.dataset",
        None,
        "one of fashion_mnist",
        "nothing",
    ),
    (
        "duplicate-engines",
        HEAD + 'engines = ["sklearn", "keras_tuner", "sklearn"]\n',
        "study.engines",
        3,
        "each engine at most once",
        "['sklearn', 'keras_tuner', 'sklearn']",
    ),
    (
        "no-engines",
        HEAD + "engines = []\n",
        "study.engines",
        3,
        "a non-empty list of sklearn, keras_tuner",
        "[]",
    ),
    (
        "range-for-string",
        HEAD + '[space]\nactivation = {low = "relu", high = "tanh"}\n',
        "space.activation",
        4,
        "a value or a list of choices (ranges are numeric only)",
        "{'low': 'relu', 'high': 'tanh'}",
    ),
    (
        "cv-string-typo",
        HEAD + '[sklearn]\ncv = "valid"\n',
        "sklearn.cv",
        4,
        "one of validation (did you mean 'validation'?)",
        "'valid'",
    ),
    (
        "cv-string-number",
        HEAD + '[sklearn]\ncv = "5"\n',
        "sklearn.cv",
        4,
        "one of validation",
        "'5'",
    ),
    (
        "bad-name",
        HEAD + 'name = "my study"\n',
        "study.name",
        3,
        "letters, digits, '_', '-' or '.' only",
        "'my study'",
    ),
    # successive halving ([sklearn] search = "halving") and which settings belong to which search
    (
        "search-typo",
        HEAD + '[sklearn]\nsearch = "halvng"\n',
        "sklearn.search",
        4,
        "one of random, halving (did you mean 'halving'?)",
        "'halvng'",
    ),
    (
        "halving-setting-with-random",
        HEAD + "[sklearn]\nn_candidates = 6\n",
        "sklearn.n_candidates",
        4,
        'search = "halving" (n_candidates is a setting of that search only)',
        'search = "random"',
    ),
    (
        "n-iter-with-halving",
        HEAD + '[sklearn]\nsearch = "halving"\nn_iter = 6\n',
        "sklearn.n_iter",
        5,
        'search = "random" (n_iter is a setting of that search only)',
        'search = "halving"',
    ),
    (
        "n-candidates-one",
        HEAD + '[sklearn]\nsearch = "halving"\nn_candidates = 1\n',
        "sklearn.n_candidates",
        5,
        "a value >= 2",
        "1",
    ),
    (
        "n-candidates-word",
        HEAD + '[sklearn]\nsearch = "halving"\nn_candidates = "all"\n',
        "sklearn.n_candidates",
        5,
        "one of exhaust",
        "'all'",
    ),
    (
        "n-candidates-float",
        HEAD + '[sklearn]\nsearch = "halving"\nn_candidates = 6.0\n',
        "sklearn.n_candidates",
        5,
        "an integer or a string",
        "6.0",
    ),
    (
        "exhaust-one-candidate",
        HEAD + '[train]\nepochs = 5\n[sklearn]\nsearch = "halving"\nmin_resources = 3\n',
        "sklearn.n_candidates",
        None,
        'an integer >= 2 ("exhaust" draws [train] epochs // min_resources candidates: 5 // 3)',
        '"exhaust"',
    ),
    (
        "min-resources-zero",
        HEAD + '[sklearn]\nsearch = "halving"\nmin_resources = 0\n',
        "sklearn.min_resources",
        5,
        "a value >= 1",
        "0",
    ),
    (
        "min-resources-over-epochs",
        HEAD + '[train]\nepochs = 4\n[sklearn]\nsearch = "halving"\n'
        "n_candidates = 4\nmin_resources = 5\n",
        "sklearn.min_resources",
        8,
        "at most [train] epochs (4)",
        "5",
    ),
    (
        "min-resources-over-default-epochs",
        HEAD + '[sklearn]\nsearch = "halving"\nmin_resources = 11\n',
        "sklearn.min_resources",
        5,
        "at most [train] epochs (10)",
        "11",
    ),
    (
        "halving-factor-one",
        HEAD + '[sklearn]\nsearch = "halving"\nfactor = 1\n',
        "sklearn.factor",
        5,
        "a number > 1",
        "1",
    ),
    (
        "halving-factor-string",
        HEAD + '[sklearn]\nsearch = "halving"\nfactor = "3"\n',
        "sklearn.factor",
        5,
        "a number",
        "'3'",
    ),
]


@pytest.mark.parametrize(
    "text, key, line, expected, got", [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_study_is_refused_with_a_precise_message(text, key, line, expected, got):
    err = expect_error(text)
    check_message(err, key, line, expected, got)


def test_bad_case_ids_are_unique():
    ids = [case[0] for case in BAD]
    assert len(ids) == len(set(ids))


def test_first_problem_wins_and_values_after_it_are_not_needed():
    # A typo in [study] is reported even though [space] below it is also wrong.
    err = expect_error('[study]\ndataset = "fashion_mnist"\nsed = 1\n[space]\nn_neurons = 0\n')
    check_message(err, "study.sed", 3, "(did you mean 'seed'?)", "an unknown key 'sed'")


def test_line_points_at_the_key_in_its_own_section():
    # `epochs` also appears in [keras_tuner]-like text earlier; the line must be [train]'s.
    text = (
        '[study]\ndataset = "fashion_mnist"\n\n[keras_tuner]\nmax_epochs = 5\n\n'
        '[train]\nbatch_size = 16\nepochs = "many"\n'
    )
    check_message(expect_error(text), "train.epochs", 9, "an integer", "'many'")
    text = (
        '[study]\ndataset = "fashion_mnist"\n[sklearn]\npatience = 1\n'
        "[keras_tuner]\npatience = -1\n"
    )
    check_message(expect_error(text), "keras_tuner.patience", 6, "a value >= 0", "-1")


def test_valid_boundaries_are_accepted():
    """The limits named in the messages are inclusive where they say so."""
    # 64 layers of 16,384 neurons would break the parameter cap; check the bounds separately.
    s = parse_study(
        HEAD + 'name = "b"\nseed = 0\nmax_train_samples = 10\n'
        "[train]\nepochs = 10000\nbatch_size = 1\n"
        "[space]\nn_hidden = [0, 1]\nn_neurons = {low = 1, high = 16384}\n"
        "learning_rate = {low = 1e-9, high = 9.99, log = true}\n"
        "[sklearn]\ncv = 2\nn_jobs = -1\npatience = 0\n"
        "[keras_tuner]\nfactor = 2\npatience = 0\nmax_trials = 1\nmax_epochs = 1\n",
        SRC,
    )
    assert s.space["n_neurons"] == IntRange(1, 16384)
    assert s.epochs == 10000 and s.batch_size == 1 and s.settings["sklearn"].cv == 2
    s = parse_study(HEAD + 'name = "b"\n[space]\nn_hidden = 64\nn_neurons = 16\n', SRC)
    assert s.space["n_hidden"] == Fixed(64)


def test_load_study_errors_for_unreadable_paths(tmp_path):
    missing = tmp_path / "nope.toml"
    check_message(
        _raises(load_study, missing),
        None,
        None,
        "an existing study file",
        "no such file",
        source=str(missing),
    )
    check_message(
        _raises(load_study, tmp_path),
        None,
        None,
        "a study file",
        "a directory",
        source=str(tmp_path),
    )
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('[study]\nname = "café"\n'.encode("latin-1"))
    check_message(
        _raises(load_study, latin1),
        None,
        None,
        "a readable UTF-8 file",
        "UnicodeDecodeError: ",
        source=str(latin1),
    )


def _raises(func, *args) -> StudyError:
    with pytest.raises(StudyError) as info:
        func(*args)
    return info.value


# ---------------------------------------------------------------- bugs found in review, now fixed


def test_parse_study_without_name_or_source_works():
    s = parse_study(HEAD)
    assert s.dataset == "fashion_mnist"


def test_parent_dir_name_is_refused():
    err = expect_error(HEAD + 'name = ".."\n')
    check_message(err, "study.name", 3, "letters, digits", "'..'")


def test_user_value_that_looks_like_a_placeholder_stays_on_one_line():
    err = expect_error('[study]\ndataset = "<a\\nb>"\n')
    assert "\n" not in str(err)
    assert str(err).endswith("got '<a\\nb>'")


def test_line_is_found_after_a_commented_header():
    err = expect_error(HEAD + "[space]  # the search space\nn_neuron = 30\n")
    check_message(err, "space.n_neuron", 4, "(did you mean 'n_neurons'?)", "an unknown key")


def test_numeric_range_for_string_parameter_says_ranges_are_numeric_only():
    err = expect_error(HEAD + "[space]\noptimizer = {low = 1, high = 3}\n")
    check_message(err, "space.optimizer", 4, "ranges are numeric only", "{'low': 1, 'high': 3}")


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current directory: a study's default output_dir ('results') would land here."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def no_data(monkeypatch):
    """Fail loudly if `run` gets as far as loading a dataset."""
    calls = []

    def refuse(study):
        calls.append(study)
        raise AssertionError("load_dataset must not be reached")

    monkeypatch.setattr(hpsearch.run.opening, "load_dataset", refuse)
    return calls


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_error_line(capsys, path, *fragments) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err.rstrip("\n")
    assert line.startswith(f"hpsearch: error: {path}"), line
    for fragment in fragments:
        assert fragment in line, line
    return line


CLI_BAD = [
    ("empty", "", "an empty file"),
    ("invalid-toml", "[study\n", "expected valid TOML"),
    ("unknown-key", HEAD + "[space]\nn_neuron = 3\n", ":4: space.n_neuron: expected"),
    ("wrong-type", HEAD + '[train]\nepochs = "ten"\n', ":4: train.epochs: expected an integer"),
    ("parameter-cap", HEAD + "[space]\nn_hidden = 10\nn_neurons = 5000\n", "space.n_neurons"),
    ("missing-dataset", '[study]\nname = "x"\n', "study.dataset: expected"),
]


@pytest.mark.parametrize("text, fragment", [c[1:] for c in CLI_BAD], ids=[c[0] for c in CLI_BAD])
def test_cli_validate_bad_file(tmp_path, workdir, capsys, text, fragment):
    path = write(tmp_path / "in" / "bad.toml", text)
    assert dispatch(["validate", str(path)]) == 2
    assert_one_error_line(capsys, path, fragment)
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("text, fragment", [c[1:] for c in CLI_BAD], ids=[c[0] for c in CLI_BAD])
def test_cli_run_bad_file_creates_nothing(tmp_path, workdir, capsys, no_data, text, fragment):
    path = write(tmp_path / "in" / "bad.toml", text)
    out = tmp_path / "out"
    assert dispatch(["run", str(path), "--output-dir", str(out)]) == 2
    assert_one_error_line(capsys, path, fragment)
    assert not out.exists()
    assert list(workdir.iterdir()) == []
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "cwd",
        "in",
        "in/bad.toml",
    ]
    assert no_data == []


def _unreadable_paths(tmp_path: Path) -> list[tuple[Path, str]]:
    latin1 = tmp_path / "in" / "latin1.toml"
    latin1.parent.mkdir(parents=True, exist_ok=True)
    latin1.write_bytes(b'[study]\ndataset = "fashion_mnist"\nname = "caf\xe9"\n')
    folder = tmp_path / "in" / "folder.toml"
    folder.mkdir()
    return [
        (tmp_path / "in" / "missing.toml", ": expected an existing study file, got no such file"),
        (folder, ": expected a study file, got a directory"),
        (latin1, ": expected a readable UTF-8 file, got UnicodeDecodeError"),
    ]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_cli_unreadable_study_paths(tmp_path, workdir, capsys, no_data, command):
    out = tmp_path / "out"
    for path, fragment in _unreadable_paths(tmp_path):
        argv = (
            ["validate", str(path)]
            if command == "validate"
            else ["run", str(path), "--output-dir", str(out)]
        )
        assert dispatch(argv) == 2, path
        line = assert_one_error_line(capsys, path, fragment)
        assert line.startswith(f"hpsearch: error: {path}: expected "), line
    assert not out.exists()
    assert list(workdir.iterdir()) == []
    assert no_data == []


VALID_CAL = """\
[study]
name = "cal"
dataset = "california_housing"
data_dir = "/work/shared/data"
engines = ["sklearn"]
max_train_samples = 100
max_eval_samples = 50

[train]
epochs = 1
"""


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file", "study-output-dir"])
def test_cli_run_unwritable_output_dir_fails_before_data(tmp_path, workdir, capsys, no_data, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n", encoding="utf-8")
    text = VALID_CAL
    if where == "study-output-dir":
        text = VALID_CAL.replace(
            'engines = ["sklearn"]\n', f'engines = ["sklearn"]\noutput_dir = "{blocker / "sub"}"\n'
        )
        argv_tail: list[str] = []
    else:
        target = blocker / "sub" / "deeper" if where == "under-a-file" else blocker
        argv_tail = ["--output-dir", str(target)]
    path = write(tmp_path / "in" / "cal.toml", text)
    assert load_study(path).dataset == "california_housing"  # the study itself is valid

    assert dispatch(["run", str(path), *argv_tail]) == 2
    assert_one_error_line(
        capsys, path, "study.output_dir: expected a writable directory", "which is not writable"
    )
    assert no_data == []  # refused before any data was read
    assert blocker.is_file() and blocker.read_text(encoding="utf-8") == "not a directory\n"
    assert list(workdir.iterdir()) == []


def test_cli_validate_good_file(tmp_path, workdir, capsys):
    data = tmp_path / "data" / "fashion-mnist"
    data.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        (data / name).write_bytes(b"")  # validate looks for the files; it does not read them
    path = write(tmp_path / "good.toml", FULL.replace('"/data/here"', f'"{data.parent}"'))
    assert dispatch(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == f"{path}: ok (fashion_mnist from {data}, engines keras_tuner, sklearn)\n"
    assert list(workdir.iterdir()) == []


def test_cli_validate_refuses_what_run_would_refuse(tmp_path, workdir, capsys):
    """A data_dir without the data, an output folder that cannot be written: exit 2, one line."""
    path = write(tmp_path / "nodata.toml", FULL)  # data_dir = "/data/here" does not exist
    assert dispatch(["validate", str(path)]) == 2
    assert_one_error_line(capsys, path, "study.data_dir /data/here, which does not exist")
    blocker = write(tmp_path / "file", "x")
    path = write(tmp_path / "noout.toml", HEAD_CAL + f'output_dir = "{blocker}/sub"\n')
    assert dispatch(["validate", str(path)]) == 2
    assert_one_error_line(capsys, path, "study.output_dir: expected a writable directory")


def test_cli_validate_stops_at_the_bad_file(tmp_path, workdir, capsys):
    good = write(tmp_path / "good.toml", HEAD_CAL)
    bad = write(tmp_path / "bad.toml", HEAD + "[train]\nbatch_size = 3.5\n")
    assert dispatch(["validate", str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: ok (california_housing from ")
    assert out.endswith(", engines sklearn, keras_tuner)\n") and out.count("\n") == 1
    assert err == f"hpsearch: error: {bad}:4: train.batch_size: expected an integer, got 3.5\n"


def test_cli_error_is_one_line_even_for_odd_values(tmp_path, capsys):
    path = write(tmp_path / "odd.toml", '[study]\ndataset = "<x\\ny>"\n')
    assert dispatch(["validate", str(path)]) == 2
    assert_one_error_line(capsys, path, "study.dataset")
