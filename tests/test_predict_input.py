"""`predict`'s input rows: .npy or CSV, a header row recognised, bad input refused in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpsearch.errors import InputError
from hpsearch.report.best import read_features

X = np.arange(12, dtype=np.float32).reshape(3, 4) / 10


@pytest.mark.parametrize("header", ["names", "pandas-default", "none"])
def test_csv_rows_with_or_without_a_header(tmp_path, header):
    path = tmp_path / "rows.csv"
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"] if header == "names" else None)
    frame.to_csv(path, index=False, header=header != "none")  # pandas' default header: 0,1,2,3
    np.testing.assert_array_equal(read_features(path, 4), X)


def test_npy_rows_and_one_row(tmp_path):
    np.save(tmp_path / "rows.npy", X)
    np.testing.assert_array_equal(read_features(tmp_path / "rows.npy", 4), X)
    np.save(tmp_path / "one.npy", X[0])
    assert read_features(tmp_path / "one.npy", 4).shape == (1, 4)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("wide.csv", "1,2,3,4,5\n", "expected rows of 4 features, got an array of shape (1, 5)"),
        ("text.csv", "a,b,c,d\n1,2,x,4\n", "expected a numeric table"),
        ("nan.csv", "1,2,3,4\n1,2,,4\n", "expected finite numbers"),
        ("rows.txt", "1,2,3,4\n", "expected a .csv or .npy file"),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
        read_features(path, 4)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
