"""`[data]`: a study's own CSV, Parquet or NPZ file: loading, labels, splits, fingerprints and
every bad input as one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpsearch.data import files, load_dataset
from hpsearch.errors import DataError, StudyError
from hpsearch.study.config import parse_study
from hpsearch.study.data_section import infer_task

from conftest import DATA_DIR

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"


def study(tmp_path, data: str, extra: str = "") -> object:
    """A study over `[data]` (`data` holds its keys), parsed as if it lived in tmp_path."""
    text = f'[study]\nname = "t"\nengines = ["sklearn"]\nseed = 3\n\n[data]\n{data}\n{extra}'
    return parse_study(text, str(tmp_path / "t.toml"))


def penguins(tmp_path, rows: int | None = None) -> str:
    frame = pd.read_csv(PENGUINS)
    path = tmp_path / "penguins.csv"
    (frame.head(rows) if rows else frame).to_csv(path, index=False)
    return path.name


def test_a_csv_with_text_labels_loads_as_classes_and_splits_stratified(tmp_path):
    s = study(tmp_path, f'train = "{PENGUINS}"\ntarget = "species"\ndrop = ["year"]')
    assert s.task == "classification" and s.dataset == "penguins.csv"
    data = load_dataset(s)
    assert data.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert list(data.x_train.columns) == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
    ]
    sizes = data.sizes()
    assert sum(sizes.values()) == 344 and sizes["test"] == round(344 * 0.2)
    whole = pd.read_csv(PENGUINS)["species"].value_counts(normalize=True).sort_index()
    for y in (data.y_train, data.y_val, data.y_test):
        share = pd.Series(y).map(dict(enumerate(data.classes))).value_counts(normalize=True)
        assert np.allclose(share.sort_index().to_numpy(), whole.to_numpy(), atol=0.03), share
    again = load_dataset(s)  # seeded: the same rows each time
    assert data.fingerprint() == again.fingerprint()
    pd.testing.assert_frame_equal(data.x_test, again.x_test)


def test_the_fingerprint_follows_the_file_and_the_seed(tmp_path):
    name = penguins(tmp_path)
    s = study(tmp_path, f'train = "{name}"\ntarget = "species"')
    first = load_dataset(s).fingerprint()
    other_seed = parse_study(s.text.replace("seed = 3", "seed = 4"), s.source)
    assert load_dataset(other_seed).fingerprint() != first
    frame = pd.read_csv(tmp_path / name)
    frame.loc[5, "bill_length_mm"] += 0.1
    frame.to_csv(tmp_path / name, index=False)
    assert load_dataset(s).fingerprint() != first


def test_parquet_loads_the_same_rows_as_csv(tmp_path):
    frame = pd.read_csv(PENGUINS)
    frame.to_parquet(tmp_path / "p.parquet")
    from_csv = load_dataset(study(tmp_path, f'train = "{PENGUINS}"\ntarget = "species"'))
    from_pq = load_dataset(study(tmp_path, 'train = "p.parquet"\ntarget = "species"'))
    assert from_csv.classes == from_pq.classes
    np.testing.assert_array_equal(from_csv.y_train, from_pq.y_train)
    pd.testing.assert_frame_equal(
        from_csv.x_train.reset_index(drop=True),
        from_pq.x_train.reset_index(drop=True),
        check_dtype=False,
    )


def test_npz_images_keep_their_shape_and_integer_labels(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "digits.npz", x=digits.images, y=digits.target)
    s = study(tmp_path, 'train = "digits.npz"')
    assert s.task == "classification"  # 10 distinct integers
    data = load_dataset(s)
    assert data.x_train.shape[1:] == (8, 8) and data.x_train.dtype == np.float32
    assert data.classes == tuple(range(10))
    assert sum(data.sizes().values()) == len(digits.target)


def test_a_separate_test_file_is_the_test_set(tmp_path):
    frame = pd.read_csv(PENGUINS).sample(frac=1.0, random_state=0)
    frame.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "test.csv", index=False)
    data = load_dataset(
        study(tmp_path, 'train = "train.csv"\ntest = "test.csv"\ntarget = "species"')
    )
    assert data.sizes()["test"] == 44 and data.sizes()["train"] + data.sizes()["val"] == 300


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([1, 2, 3, 2, 1], "classification"),
        (list(range(100)), "regression"),
        ([0.5, 1.25, 3.0], "regression"),
        ([1.0, 2.0, 1.0], "classification"),
    ],
)
def test_the_task_is_inferred_from_the_target(values, task):
    assert infer_task(np.asarray(values)) == task


def test_a_float_target_is_a_regression_and_a_text_one_cannot_be(tmp_path):
    frame = pd.DataFrame({"a": np.arange(40.0), "b": ["x", "y"] * 20, "y": np.linspace(0, 1, 40)})
    frame.to_csv(tmp_path / "r.csv", index=False)
    s = study(tmp_path, 'train = "r.csv"\ntarget = "y"')
    assert s.task == "regression"
    assert load_dataset(s).y_train.dtype == np.float32
    with pytest.raises(DataError, match=r"data.target 'b' holds 'x'; expected numbers"):
        load_dataset(study(tmp_path, 'train = "r.csv"\ntarget = "b"\ntask = "regression"'))


# --- every bad input is one line naming the file and the key --------------------------------


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        ('train = "nope.csv"\ntarget = "species"', "data.train", "no such file"),
        ('train = "penguins.csv"\ntarget = "kind"', "data.target", "a column of penguins.csv"),
        ('train = "penguins.csv"', "data.target", "the name of the target column"),
        (
            'train = "penguins.csv"\ntarget = "species"\ntest_fraction = 0.95',
            "data.test_fraction",
            "",
        ),
        ('train = "penguins.txt.gz"\ntarget = "species"', "data.train", "no such file"),
        ('train = "penguins.csv"\ntarget = "species"\nx_key = "x"', "data.x_key", "no such key"),
        (
            'train = "penguins.csv"\ntarget = "species"\nclass_weight = "even"',
            "data.class_weight",
            "",
        ),
    ],
)
def test_bad_data_settings_are_one_line(tmp_path, data, where, fragment):
    penguins(tmp_path)
    with pytest.raises(StudyError) as err:
        study(tmp_path, data)
    text = one_line(err.value)
    assert where in text and fragment in text and str(tmp_path / "t.toml") in text


def test_a_study_names_a_dataset_or_data_never_both(tmp_path):
    penguins(tmp_path)
    text = (
        '[study]\ndataset = "fashion_mnist"\n\n[data]\ntrain = "penguins.csv"\ntarget = "species"'
    )
    with pytest.raises(StudyError, match="either study.dataset or a \\[data\\] table"):
        parse_study(text, str(tmp_path / "t.toml"))


def frame_study(tmp_path, frame: pd.DataFrame, extra: str = "") -> object:
    frame.to_csv(tmp_path / "f.csv", index=False)
    return study(tmp_path, f'train = "f.csv"\ntarget = "y"\n{extra}')


def test_a_missing_target_is_refused_with_its_count_unless_dropped(tmp_path):
    frame = pd.DataFrame({"a": np.arange(60.0), "y": ["p", "q", None] * 20})
    with pytest.raises(DataError) as err:
        load_dataset(frame_study(tmp_path, frame))
    assert "data.target 'y' is missing in 20 of 60 rows" in one_line(err.value)
    assert "drop_missing_target" in str(err.value)
    data = load_dataset(frame_study(tmp_path, frame, "drop_missing_target = true"))
    assert sum(data.sizes().values()) == 40 and data.classes == ("p", "q")


@pytest.mark.parametrize(
    ("frame", "extra", "fragment"),
    [
        (pd.DataFrame({"a": np.arange(30.0), "y": ["one"] * 30}), "", "a single class ('one')"),
        (
            pd.DataFrame({"a": np.arange(30.0), "y": ["p"] * 29 + ["q"]}),
            "",
            "the smallest class has 1 rows, too few to stratify",
        ),
        (
            pd.DataFrame({"a": np.arange(30.0), "e": [None] * 30, "y": ["p", "q"] * 15}),
            "",
            "column 'e' has no value in any row",
        ),
        (
            pd.DataFrame({"a": np.arange(30.0), "y": ["p", "q"] * 15}),
            'drop = ["b"]',
            "data.drop names 'b'",
        ),
    ],
)
def test_bad_data_is_one_line_naming_the_file(tmp_path, frame, extra, fragment):
    with pytest.raises(DataError) as err:
        load_dataset(frame_study(tmp_path, frame, extra))
    text = one_line(err.value)
    assert fragment in text and str(tmp_path / "f.csv") in text


def test_a_file_too_large_for_memory_is_refused_before_reading(tmp_path, monkeypatch):
    name = penguins(tmp_path)
    s = study(tmp_path, f'train = "{name}"\ntarget = "species"')
    monkeypatch.setattr(files, "MEMORY_FACTOR", 10**12)
    with pytest.raises(DataError, match="too large for this machine's"):
        load_dataset(s)


def test_npz_without_the_named_arrays_is_one_line(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((10, 4)), y=np.arange(10) % 2)
    with pytest.raises(DataError, match=r"data.x_key 'x' is not an array of the file \(it has"):
        load_dataset(study(tmp_path, 'train = "a.npz"'))
    with pytest.raises(StudyError, match="data.y_key"):
        study(tmp_path, 'train = "a.npz"\ny_key = "labels"')


def test_a_table_fingerprints_by_value_in_any_process(tmp_path):
    """Fit keys and resume checks hash the tables: the same rows give the same hash in another
    process (text columns are objects: hashing their addresses would differ every time)."""
    import subprocess
    import sys

    from hpsearch.data.dataset import arrays_fingerprint

    from conftest import ROOT

    frame = pd.read_csv(PENGUINS)
    code = (
        "import sys, pandas as pd; from hpsearch.data.dataset import arrays_fingerprint;"
        "print(arrays_fingerprint(pd.read_csv(sys.argv[1])))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(PENGUINS)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    ).stdout.strip()
    assert other == arrays_fingerprint(frame)
    assert arrays_fingerprint(frame.assign(island=frame["island"].str.lower())) != other
