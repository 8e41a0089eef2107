"""Datasets: exact splits, reproducible subsets, the search order, and one-line DataErrors."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import signal
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from hpsearch.data import (
    ENV_DATA_DIR,
    Dataset,
    california_housing,
    data_dirs,
    fashion_mnist,
    load_dataset,
)
from hpsearch.data.california_housing import CAL_FILE
from hpsearch.errors import DataError
from hpsearch.study.config import parse_study

from conftest import DATA_DIR

FASHION_DIR = DATA_DIR / "fashion-mnist"
CAL_DIR = DATA_DIR / "scikit_learn_data"
FASHION_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
N_SYNTH_TRAIN, N_SYNTH_TEST = 5_010, 20  # the smallest training set with a 5,000-image validation


def study_of(dataset: str, source: str = "<study>", **study: object):
    lines = [f'dataset = "{dataset}"'] + [
        f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in study.items()
    ]
    return parse_study("[study]\n" + "\n".join(lines) + "\n", source)


def write_study(path: Path, dataset: str, **study: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(study_of(dataset, **study).text, encoding="utf-8")
    return path


def load_file(path: Path):
    return load_dataset(parse_study(path.read_text(encoding="utf-8"), str(path)))


def rows(*arrays: np.ndarray) -> np.ndarray:
    """Feature rows with their target appended, as one 2-D array."""
    x, y = arrays
    return np.column_stack([x, y]).astype(np.float64)


def digests(x: np.ndarray) -> set[bytes]:
    return {hashlib.blake2b(r.tobytes(), digest_size=12).digest() for r in np.ascontiguousarray(x)}


def link_fashion(folder: Path, skip: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in FASHION_NAMES:
        if name not in skip:
            (folder / name).symlink_to(FASHION_DIR / name)
    return folder


# --- synthetic IDX files: header validation without the real data ------------------------


def idx_bytes(
    magic: int, n: int, payload: bytes | None = None, side: int = 28, header_n: int | None = None
) -> bytes:
    header_n = n if header_n is None else header_n
    if magic == 2051:
        head = np.array([magic, header_n, side, side], dtype=">u4").tobytes()
        body = np.zeros(n * side * side, np.uint8).tobytes() if payload is None else payload
    else:
        head = np.array([magic, header_n], dtype=">u4").tobytes()
        body = (np.arange(n) % 10).astype(np.uint8).tobytes() if payload is None else payload
    return head + body


def write_synthetic_fashion(folder: Path, **overrides: bytes) -> Path:
    """Four small valid gzip IDX files; `overrides` replaces a file's raw (uncompressed) bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "train-images-idx3-ubyte.gz": idx_bytes(2051, N_SYNTH_TRAIN),
        "train-labels-idx1-ubyte.gz": idx_bytes(2049, N_SYNTH_TRAIN),
        "t10k-images-idx3-ubyte.gz": idx_bytes(2051, N_SYNTH_TEST),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(2049, N_SYNTH_TEST),
    }
    for key, raw in overrides.items():
        contents[key.replace("_", "-") + ".gz"] = raw
    for name, raw in contents.items():
        (folder / name).write_bytes(gzip.compress(raw, compresslevel=1))
    return folder


def assert_one_line(err: DataError, *fragments: str) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return text


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No environment data dir, an empty HOME, no Debian folder, and downloads that fail loudly."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (ENV_DATA_DIR, "KERAS_HOME", "SCIKIT_LEARN_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FASHION", tmp_path / "no-debian" / "fashion-mnist")
    downloads: list[str] = []

    def refuse(name):
        def download():
            downloads.append(name)
            raise OSError(f"network disabled in tests ({name})")

        return download

    monkeypatch.setattr(fashion_mnist, "download", refuse("keras"))
    monkeypatch.setattr(california_housing, "download", refuse("sklearn"))
    return home, downloads


def test_synthetic_fashion_loads(tmp_path, offline):
    folder = write_synthetic_fashion(tmp_path / "d" / "fashion-mnist")
    d = load_dataset(study_of("fashion_mnist", data_dir=str(tmp_path / "d")))
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (10, 5_000, N_SYNTH_TEST)
    assert d.x_train.shape[1] == 784 and d.origin == str(folder)
    assert offline[1] == []


BAD_IDX = [
    (
        "images-are-labels",
        {"train_images_idx3_ubyte": idx_bytes(2049, N_SYNTH_TRAIN)},
        "train-images-idx3-ubyte.gz",
        ["magic 2051", "magic number 2049"],
    ),
    (
        "labels-wrong-magic",
        {"t10k_labels_idx1_ubyte": idx_bytes(2051, 1)},
        "t10k-labels-idx1-ubyte.gz",
        ["magic 2049", "magic number 2051"],
    ),
    (
        "short-body",
        {"t10k_images_idx3_ubyte": idx_bytes(2051, N_SYNTH_TEST, header_n=N_SYNTH_TEST + 1)},
        "t10k-images-idx3-ubyte.gz",
        ["header announces 21"],
    ),
    (
        "not-28x28",
        {"t10k_images_idx3_ubyte": idx_bytes(2051, N_SYNTH_TEST, side=32)},
        "t10k-images-idx3-ubyte.gz",
        ["28x28", "32x32"],
    ),
    (
        "count-mismatch",
        {"train_labels_idx1_ubyte": idx_bytes(2049, N_SYNTH_TRAIN - 1)},
        "train-labels-idx1-ubyte.gz",
        ["5,009 labels for 5,010 images", "train-images-idx3-ubyte.gz"],
    ),
    (
        "label-out-of-range",
        {"t10k_labels_idx1_ubyte": idx_bytes(2049, 2, payload=bytes([3, 10]))},
        "t10k-labels-idx1-ubyte.gz",
        ["label 10"],
    ),
    ("empty", {"t10k_labels_idx1_ubyte": b""}, "t10k-labels-idx1-ubyte.gz", ["0 bytes"]),
    (
        "too-few-train",
        {
            "train_images_idx3_ubyte": idx_bytes(2051, 100),
            "train_labels_idx1_ubyte": idx_bytes(2049, 100),
        },
        "train-images-idx3-ubyte.gz",
        ["more than 5,000"],
    ),
]


@pytest.mark.parametrize(
    "overrides, bad_file, fragments", [c[1:] for c in BAD_IDX], ids=[c[0] for c in BAD_IDX]
)
def test_bad_idx_header_is_a_data_error(tmp_path, offline, overrides, bad_file, fragments):
    folder = write_synthetic_fashion(tmp_path / "d", **overrides)
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist", data_dir=str(folder)))
    assert_one_line(err.value, str(folder / bad_file), *fragments)


@pytest.mark.parametrize("damage", ["truncated", "not-gzip", "bad-crc"])
def test_bad_gzip_is_a_data_error(tmp_path, offline, damage):
    folder = write_synthetic_fashion(tmp_path / "d")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(
        {
            "truncated": raw[: len(raw) // 2],
            "not-gzip": idx_bytes(2049, N_SYNTH_TEST),
            "bad-crc": raw[:-8] + bytes(8),
        }[damage]
    )
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist", data_dir=str(folder)))
    assert_one_line(err.value, str(path), "gzip")


@pytest.mark.parametrize("content", ["garbage", "wrong-shape"])
def test_bad_pkz_is_a_data_error(tmp_path, offline, content):
    path = tmp_path / "d" / CAL_FILE
    path.parent.mkdir()
    if content == "garbage":
        path.write_bytes(b"\x00not a joblib pickle" * 50)
    else:
        import joblib

        joblib.dump(np.ones((50, 12)), path, compress=3)
    with pytest.raises(DataError) as err:
        load_dataset(study_of("california_housing", data_dir=str(path.parent)))
    assert_one_line(err.value, str(path))
    assert offline[1] == []


@pytest.mark.parametrize(
    "dataset, expected",
    [("fashion_mnist", "train-images-idx3-ubyte.gz"), ("california_housing", CAL_FILE)],
)
@pytest.mark.parametrize("exists", [True, False])
def test_explicit_data_dir_without_files_does_not_fall_through(
    tmp_path, offline, monkeypatch, dataset, expected, exists
):
    empty = tmp_path / "studies" / "empty"
    if exists:
        empty.mkdir(parents=True)
    monkeypatch.setenv(ENV_DATA_DIR, str(DATA_DIR))  # has the data, but must not be used
    path = write_study(tmp_path / "studies" / "s.toml", dataset, data_dir="empty")
    with pytest.raises(DataError) as err:
        load_file(path)
    text = assert_one_line(err.value, str(path), "study.data_dir 'empty'", str(empty), expected)
    assert ("does not exist" in text) is not exists
    assert str(DATA_DIR) not in text
    assert offline[1] == []  # no download either


def test_partial_fashion_folder_in_explicit_dir_is_an_error(tmp_path, offline):
    folder = write_synthetic_fashion(tmp_path / "d" / "fashion-mnist")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist", data_dir=str(tmp_path / "d")))
    assert_one_line(err.value, "t10k-labels-idx1-ubyte.gz", str(folder))


def test_data_dirs_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "env"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("SCIKIT_LEARN_DATA", raising=False)
    env = tmp_path / "env"
    assert data_dirs(None) == [env]
    assert data_dirs(None, "fashion_mnist") == [
        env / "fashion-mnist",
        env,
        Path("/usr/share/datasets/fashion-mnist"),
        tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist",
    ]
    assert data_dirs(None, "california_housing") == [
        env / "scikit_learn_data",
        env,
        tmp_path / "home" / "scikit_learn_data",
    ]
    source = str(tmp_path / "studies" / "s.toml")
    assert data_dirs("../data", "california_housing", source) == [
        tmp_path / "studies" / ".." / "data" / "scikit_learn_data",
        tmp_path / "studies" / ".." / "data",
    ]
    monkeypatch.chdir(tmp_path)
    assert data_dirs("rel", None, "<study>") == [tmp_path / "rel"]
    assert data_dirs("~/d", None, source) == [tmp_path / "home" / "d"]
    monkeypatch.delenv(ENV_DATA_DIR)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skl"))
    assert data_dirs(None, "fashion_mnist")[-1] == tmp_path / "kh" / "datasets" / "fashion-mnist"
    assert data_dirs(None, "california_housing") == [tmp_path / "skl"]


def test_env_dir_without_files_falls_through_to_the_error(tmp_path, offline, monkeypatch):
    home, downloads = offline
    empty = tmp_path / "env-empty"
    empty.mkdir()
    monkeypatch.setenv(ENV_DATA_DIR, str(empty))
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist"))
    assert_one_line(
        err.value,
        "fashion_mnist: no IDX files in",
        str(empty / "fashion-mnist"),
        str(empty),
        str(fashion_mnist.DEBIAN_FASHION),
        str(home / ".keras" / "datasets" / "fashion-mnist"),
        "download failed (OSError: network disabled",
        ENV_DATA_DIR,
    )
    with pytest.raises(DataError) as err:
        load_dataset(study_of("california_housing"))
    assert_one_line(
        err.value,
        "california_housing: no cal_housing_py3.pkz in",
        str(empty / "scikit_learn_data"),
        str(home / "scikit_learn_data"),
        "download failed (OSError: network disabled",
    )
    assert downloads == ["keras", "sklearn"]


def test_env_dir_without_files_falls_through_to_the_keras_cache(tmp_path, offline, monkeypatch):
    home, downloads = offline
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "env-missing"))
    cache = write_synthetic_fashion(home / ".keras" / "datasets" / "fashion-mnist")
    d = load_dataset(study_of("fashion_mnist"))
    assert d.origin == str(cache) and len(d.x_test) == N_SYNTH_TEST
    assert downloads == []


def test_relative_data_dir_with_a_pseudo_source_uses_the_current_directory(
    tmp_path, offline, monkeypatch
):
    write_synthetic_fashion(tmp_path / "cwd" / "rel")
    monkeypatch.chdir(tmp_path / "cwd")
    d = load_dataset(study_of("fashion_mnist", source="<study>", data_dir="rel"))
    assert d.origin == str(tmp_path / "cwd" / "rel")


def test_fingerprint_hashes_dtype(tmp_path, offline):
    write_synthetic_fashion(tmp_path / "d")
    d = load_dataset(study_of("fashion_mnist", data_dir=str(tmp_path / "d")))
    fp = d.fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    same_bytes = dataclasses.replace(d, y_train=d.y_train.view(np.float64))
    assert same_bytes.y_train.tobytes() == d.y_train.tobytes()
    assert same_bytes.fingerprint() != fp
    assert dataclasses.replace(d, y_test=d.y_test.copy()).fingerprint() == fp


# --- the real data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion_raw():
    """The real Fashion-MNIST files, read once for the module."""
    if not FASHION_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST in {FASHION_DIR}")
    return fashion_mnist.raw(study_of("fashion_mnist", data_dir=str(DATA_DIR)))


@pytest.fixture(scope="module")
def fashion(fashion_raw):
    return load_dataset(study_of("fashion_mnist", data_dir=str(DATA_DIR)))


def load_fashion_fast(fashion_raw, **study: object) -> Dataset:
    """load_dataset on the already-read files (the splitting and sampling still run)."""
    with mock.patch.object(fashion_mnist, "raw", lambda s: fashion_raw):
        return load_dataset(study_of("fashion_mnist", **study))


@pytest.fixture(scope="module")
def cal_full():
    from sklearn.datasets import fetch_california_housing

    bunch = fetch_california_housing(data_home=str(CAL_DIR), download_if_missing=False)
    return bunch.data.astype(np.float32), bunch.target.astype(np.float32)


@pytest.mark.data
def test_fashion_shapes_and_values(fashion):
    assert fashion.name == "fashion_mnist" and fashion.task == "classification"
    assert fashion.x_train.shape == (55_000, 784)
    assert fashion.x_val.shape == (5_000, 784)
    assert fashion.x_test.shape == (10_000, 784)
    assert fashion.y_train.shape == (55_000,) and fashion.y_val.shape == (5_000,)
    assert fashion.y_test.shape == (10_000,)
    assert fashion.n_features == 784 and fashion.n_outputs == 10
    for x in (fashion.x_train, fashion.x_val, fashion.x_test):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    for y in (fashion.y_train, fashion.y_val, fashion.y_test):
        assert np.issubdtype(y.dtype, np.integer) and y.min() == 0 and y.max() == 9
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    counts = np.bincount(np.concatenate([fashion.y_train, fashion.y_val]), minlength=10)
    assert counts.tolist() == [6_000] * 10
    assert np.bincount(fashion.y_test, minlength=10).tolist() == [1_000] * 10
    assert fashion.origin == str(FASHION_DIR)


@pytest.mark.data
def test_fashion_validation_is_the_last_5000_training_images(fashion):
    with gzip.open(FASHION_DIR / "train-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(60_000, 784)
    with gzip.open(FASHION_DIR / "train-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    np.testing.assert_array_equal(fashion.x_val, images[-5_000:].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(fashion.y_val, labels[-5_000:])
    np.testing.assert_array_equal(fashion.x_train, images[:-5_000].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(fashion.y_train, labels[:-5_000])


@pytest.mark.data
def test_fashion_subsets(fashion, fashion_raw):
    a = load_fashion_fast(fashion_raw, seed=1, max_train_samples=1_000, max_eval_samples=300)
    b = load_fashion_fast(fashion_raw, seed=1, max_train_samples=1_000, max_eval_samples=300)
    c = load_fashion_fast(fashion_raw, seed=2, max_train_samples=1_000, max_eval_samples=300)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1_000, 300, 300)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (1_000, 300, 300)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x_train, c.x_train) and not np.array_equal(a.x_test, c.x_test)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    for split in ("train", "val", "test"):
        full = digests(getattr(fashion, f"x_{split}"))
        assert digests(getattr(a, f"x_{split}")) <= full, split


@pytest.mark.data
def test_california_split(cal_full):
    x_all, y_all = cal_full
    d = load_dataset(study_of("california_housing", seed=3))
    assert d.task == "regression" and d.n_features == 8 and d.n_outputs == 1
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (12_384, 4_128, 4_128)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (12_384, 4_128, 4_128)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.float32
    full = {tuple(r) for r in rows(x_all, y_all)}
    assert len(full) == 20_640  # no duplicate rows, so set arithmetic is exact
    parts = [
        {tuple(r) for r in rows(x, y)}
        for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test))
    ]
    assert sum(len(p) for p in parts) == 20_640
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] == full
    x = np.concatenate([d.x_train, d.x_val, d.x_test]).astype(np.float64)
    y = np.concatenate([d.y_train, d.y_val, d.y_test]).astype(np.float64)
    assert x[:, 0].mean() == pytest.approx(3.870671, abs=1e-5)
    assert y.mean() == pytest.approx(2.068558, abs=1e-5)
    assert d.origin == str(CAL_DIR)


@pytest.mark.data
def test_california_seeds_and_subsets():
    a, b = (load_dataset(study_of("california_housing", seed=5)) for _ in range(2))
    c = load_dataset(study_of("california_housing", seed=6))
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x_test, c.x_test) and not np.array_equal(a.y_train, c.y_train)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()

    s1, s2 = (
        load_dataset(
            study_of("california_housing", seed=5, max_train_samples=200, max_eval_samples=50)
        )
        for _ in range(2)
    )
    s3 = load_dataset(
        study_of("california_housing", seed=6, max_train_samples=200, max_eval_samples=50)
    )
    assert (len(s1.x_train), len(s1.x_val), len(s1.x_test)) == (200, 50, 50)
    assert (len(s1.y_train), len(s1.y_val), len(s1.y_test)) == (200, 50, 50)
    assert s1.fingerprint() == s2.fingerprint() != s3.fingerprint()
    np.testing.assert_array_equal(s1.x_train, s2.x_train)
    assert not np.array_equal(s1.x_train, s3.x_train)
    for split in ("train", "val", "test"):  # each subset comes from the same seed's full split
        sub = {tuple(r) for r in rows(getattr(s1, f"x_{split}"), getattr(s1, f"y_{split}"))}
        full = {tuple(r) for r in rows(getattr(a, f"x_{split}"), getattr(a, f"y_{split}"))}
        assert sub <= full, split


@pytest.mark.data
def test_relative_data_dir_is_taken_from_the_study_folder(tmp_path, offline, monkeypatch):
    (tmp_path / "data" / "scikit_learn_data").mkdir(parents=True)
    (tmp_path / "data" / "scikit_learn_data" / CAL_FILE).symlink_to(CAL_DIR / CAL_FILE)
    flat = tmp_path / "studies" / "flat"
    flat.mkdir(parents=True)
    (flat / CAL_FILE).symlink_to(CAL_DIR / CAL_FILE)
    link_fashion(tmp_path / "data" / "fashion-mnist")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter
    path = write_study(
        tmp_path / "studies" / "cal.toml",
        "california_housing",
        data_dir="../data",
        max_train_samples=100,
        max_eval_samples=20,
    )
    d = load_file(path)
    assert Path(d.origin) == tmp_path / "studies" / ".." / "data" / "scikit_learn_data"
    assert len(d.x_train) == 100
    path = write_study(tmp_path / "studies" / "flat.toml", "california_housing", data_dir="flat")
    assert load_file(path).origin == str(flat)
    assert offline[1] == []


@pytest.mark.data
def test_real_file_truncated_or_swapped(tmp_path, offline):
    folder = link_fashion(tmp_path / "trunc", skip=("t10k-labels-idx1-ubyte.gz",))
    raw = (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist", data_dir=str(folder)))
    assert_one_line(err.value, str(folder / "t10k-labels-idx1-ubyte.gz"), "truncated")

    folder = link_fashion(tmp_path / "swap", skip=("train-images-idx3-ubyte.gz",))
    (folder / "train-images-idx3-ubyte.gz").symlink_to(FASHION_DIR / "train-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as err:
        load_dataset(study_of("fashion_mnist", data_dir=str(folder)))
    assert_one_line(err.value, str(folder / "train-images-idx3-ubyte.gz"), "magic number 2049")

    (tmp_path / "cal").mkdir()
    raw = (CAL_DIR / CAL_FILE).read_bytes()
    (tmp_path / "cal" / CAL_FILE).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as err:
        load_dataset(study_of("california_housing", data_dir=str(tmp_path / "cal")))
    assert_one_line(err.value, str(tmp_path / "cal" / CAL_FILE), "does not load")


@pytest.mark.data
def test_env_dir_falls_through_to_the_sklearn_home(tmp_path, offline, monkeypatch):
    home, downloads = offline
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "env-empty"))
    (home / "scikit_learn_data").mkdir()
    (home / "scikit_learn_data" / CAL_FILE).symlink_to(CAL_DIR / CAL_FILE)
    d = load_dataset(study_of("california_housing", max_train_samples=50, max_eval_samples=20))
    assert d.origin == str(home / "scikit_learn_data") and len(d.x_train) == 50
    assert downloads == []


# --- through the CLI ----------------------------------------------------------------------


@pytest.fixture
def restore_signals():
    """dispatch() installs SIGINT/SIGTERM handlers and an unraisable hook: put them back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    sys.unraisablehook = hook


def test_cli_run_with_an_empty_data_dir_fails_before_the_run_dir(
    tmp_path, offline, capsys, restore_signals, monkeypatch
):
    from hpsearch.cli import dispatch

    (tmp_path / "in" / "nodata").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    path = write_study(
        tmp_path / "in" / "s.toml", "california_housing", data_dir="nodata", engines=["sklearn"]
    )
    out = tmp_path / "out"
    assert dispatch(["run", str(path), "--output-dir", str(out), "--quiet"]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("hpsearch: error: "), stderr
    assert "Traceback" not in stderr
    assert (
        f"{path}: study.data_dir 'nodata'" in stderr and str(tmp_path / "in" / "nodata") in stderr
    )
    assert not out.exists() or not any(out.rglob("*"))
    assert offline[1] == []
