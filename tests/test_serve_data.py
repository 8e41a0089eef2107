"""`serve --data-dir`: the data folder listed (`GET /api/data`) and files uploaded into it
(`POST /api/data`), in-process with FastAPI's test client; the page that uses them is driven
in test_serve_browser.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from test_serve_api import client

BYTES = {"Content-Type": "application/octet-stream"}
ROWS = "bill,island,species\n" + "".join(
    f"{30 + i % 17},{'ab'[i % 2]},{'xyz'[i % 3]}\n" for i in range(40)
)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def served(tmp_path: Path, data: Path, **options) -> TestClient:
    return client(tmp_path / "results", data_roots=[data], **options)


def left(folder: Path) -> list[str]:
    """Everything in the folder, hidden temporary files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_upload_is_listed_with_rows_columns_and_preview(tmp_path: Path, data: Path) -> None:
    c = served(tmp_path, data)
    reply = c.post("/api/data?filename=birds.csv", content=ROWS.encode(), headers=BYTES)
    assert reply.status_code == 201, reply.text
    assert (data / "birds.csv").read_text() == ROWS and left(data) == ["birds.csv"]
    assert reply.json()["rows"] == 40

    frame = pd.DataFrame({"a": [1.5, None, 3.0], "label": ["u", "v", "u"]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert c.post(
        "/api/data?filename=t.parquet", content=buffer.getvalue(), headers=BYTES
    ).is_success
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((6, 2, 3), np.float32), y=np.arange(6))
    assert c.post("/api/data?filename=a.npz", content=buffer.getvalue(), headers=BYTES).is_success

    listing = c.get("/api/data").json()
    assert listing["folder"] == str(data.resolve()) and listing["max_upload"] == 200_000_000
    files = {f["name"]: f for f in listing["files"]}
    assert list(files) == ["a.npz", "birds.csv", "t.parquet"]
    birds = files["birds.csv"]
    assert birds["path"] == str(data.resolve() / "birds.csv")
    assert (birds["format"], birds["rows"], birds["bytes"]) == ("csv", 40, len(ROWS))
    assert birds["columns"] == [
        {"name": "bill", "kind": "numeric"},
        {"name": "island", "kind": "categorical"},
        {"name": "species", "kind": "categorical"},
    ]
    assert birds["preview"][:2] == [[30, "a", "x"], [31, "b", "y"]] and len(birds["preview"]) == 5
    assert files["t.parquet"]["preview"][1] == [None, "v"]  # NaN as null
    assert files["a.npz"]["rows"] == 6 and files["a.npz"]["arrays"] == [
        {"name": "x", "shape": [6, 2, 3], "dtype": "float32"},
        {"name": "y", "shape": [6], "dtype": "int64"},
    ]
    # what the page's study form needs: each engine's own trials key, from the registry
    engines = {e["name"]: e for e in listing["engines"]}
    assert engines["optuna"]["trials_setting"] == "n_trials"

    # the answer follows the file: rewritten in place, it is read again
    (data / "birds.csv").write_text(ROWS + "99,a,z\n")
    assert c.get("/api/data").json()["files"][1]["rows"] == 41


def test_a_study_of_the_uploaded_file_is_accepted(tmp_path: Path, data: Path) -> None:
    c = served(tmp_path, data)
    path = c.post("/api/data?filename=birds.csv", content=ROWS.encode(), headers=BYTES).json()
    study = f"""[study]
name = "birds"
engines = ["optuna"]
[data]
train = "{path["path"]}"
target = "species"
[train]
epochs = 1
[optuna]
n_trials = 1
"""
    reply = c.post("/api/studies?filename=birds.toml", content=study)
    assert reply.status_code == 201, reply.text


def test_an_unreadable_file_is_listed_with_its_error(tmp_path: Path, data: Path) -> None:
    data.mkdir()
    (data / "broken.parquet").write_bytes(b"not parquet")
    (data / "notes.txt").write_text("not listed")
    (data / ".hidden.csv").write_text(ROWS)
    (broken,) = served(tmp_path, data).get("/api/data").json()["files"]
    assert (
        broken["name"] == "broken.parquet" and "expected a readable parquet file" in broken["error"]
    )
    assert "rows" not in broken


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_cap_leaves_nothing(tmp_path: Path, data: Path, chunked: bool) -> None:
    c = served(tmp_path, data, max_upload=1000)
    body = (ROWS * 30).encode()
    # with a Content-Length the guard refuses it before the route; without one (chunked), the
    # route stops reading at the cap and removes what it wrote
    content = iter([body[i : i + 500] for i in range(0, len(body), 500)]) if chunked else body
    reply = c.post("/api/data?filename=big.csv", content=content, headers=BYTES)
    assert reply.status_code == 413 and "at most 1000 bytes" in reply.json()["error"]
    assert left(data) == []
    # under the cap it goes in; the cap of every other route stays the same (256 KiB)
    assert c.post("/api/data?filename=ok.csv", content=ROWS.encode(), headers=BYTES).is_success
    big = served(tmp_path, data, max_upload=10**7)
    reply = big.post("/api/studies?filename=s.toml", content="#" * 300_000)
    assert reply.status_code == 413 and "262144" in reply.json()["error"]
    body = ROWS.encode() + b"1,a,x\n" * 50_000  # 300 kB: over the study cap, under this one
    assert big.post("/api/data?filename=big.csv", content=body, headers=BYTES).status_code == 201


@pytest.mark.parametrize(
    "name", ["../x.csv", "a/b.csv", "a\\b.csv", "..", ".hidden.csv", "x.txt", "x.csv.exe", ""]
)
def test_odd_names_are_refused(tmp_path: Path, data: Path, name: str) -> None:
    c = served(tmp_path, data)
    reply = c.post("/api/data", params={"filename": name}, content=ROWS.encode(), headers=BYTES)
    assert reply.status_code == 422 and "filename: expected" in reply.json()["error"]
    assert left(data) == [] and not (tmp_path / "x.csv").exists()


def test_an_existing_file_is_replaced_only_when_asked(tmp_path: Path, data: Path) -> None:
    c = served(tmp_path, data)
    assert c.post("/api/data?filename=d.csv", content=ROWS.encode(), headers=BYTES).is_success
    other = ROWS.replace("bill", "beak")
    reply = c.post("/api/data?filename=d.csv", content=other.encode(), headers=BYTES)
    assert reply.status_code == 409 and "replace=true" in reply.json()["error"]
    assert (data / "d.csv").read_text() == ROWS and left(data) == ["d.csv"]
    reply = c.post("/api/data?filename=d.csv&replace=true", content=other.encode(), headers=BYTES)
    assert reply.status_code == 201 and reply.json()["columns"][0]["name"] == "beak"
    assert (data / "d.csv").read_text() == other and left(data) == ["d.csv"]


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("rows.parquet", ROWS.encode(), "expected a readable parquet file"),
        ("a.npz", b"PK\x03\x04 torn", "expected an NPZ file of arrays"),
        ("a.npz", b"", "expected an NPZ file of arrays"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5,6\n", "expected a readable csv file"),
        ("latin.csv", "a,b\n\xe9t\xe9,1\n".encode("latin-1"), "expected a readable csv file"),
        ("one.csv", b"just one column\n1\n2\n", "at least two columns"),
        ("empty.csv", b"", "expected a readable csv file"),
    ],
)
def test_a_file_not_of_its_format_is_refused(
    tmp_path: Path, data: Path, name: str, body: bytes, why: str
) -> None:
    reply = served(tmp_path, data).post(f"/api/data?filename={name}", content=body, headers=BYTES)
    assert reply.status_code == 422 and why in reply.json()["error"], reply.text
    assert left(data) == []


def test_a_pickled_npz_is_refused(tmp_path: Path, data: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"a": 1}], dtype=object))  # loading it would unpickle
    reply = served(tmp_path, data).post(
        "/api/data?filename=p.npz", content=buffer.getvalue(), headers=BYTES
    )
    assert reply.status_code == 422 and "allow_pickle" in reply.json()["error"]
    assert left(data) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        # what a form of another site can send without asking first
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": ""}, 415),
    ],
)
def test_other_sites_and_forms_cannot_upload(
    tmp_path: Path, data: Path, headers: dict[str, str], status: int
) -> None:
    reply = served(tmp_path, data).post(
        "/api/data?filename=d.csv", content=ROWS.encode(), headers={**BYTES, **headers}
    )
    assert reply.status_code == status, reply.text
    assert left(data) == []


def test_uploads_need_the_token_when_there_is_one(tmp_path: Path, data: Path) -> None:
    c = served(tmp_path, data, token="t" * 20)
    reply = c.post("/api/data?filename=d.csv", content=ROWS.encode(), headers=BYTES)
    assert reply.status_code == 401 and left(data) == []
    auth = {**BYTES, "Authorization": "Bearer " + "t" * 20}
    assert c.post("/api/data?filename=d.csv", content=ROWS.encode(), headers=auth).is_success


def test_no_data_folder_no_listing_nor_upload(tmp_path: Path, monkeypatch) -> None:
    # $HPSEARCH_DATA_DIR (a dataset cache studies may read) is not a folder to write into
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(tmp_path / "cache"))
    c = client(tmp_path / "results")
    for reply in (
        c.get("/api/data"),
        c.post("/api/data?filename=d.csv", content=ROWS.encode(), headers=BYTES),
    ):
        assert reply.status_code == 404 and "--data-dir" in reply.json()["error"]
    assert not (tmp_path / "cache").exists()


def test_the_runs_page_has_the_panel_only_with_a_data_folder(tmp_path: Path, data: Path) -> None:
    with_data = served(tmp_path, data).get("/").text
    assert 'id="data-panel" data-api="/api/data"' in with_data and "/static/data.js" in with_data
    without = client(tmp_path / "results", data_roots=[]).get("/").text
    assert 'id="data-panel"' in without and "--data-dir FOLDER" in without
    assert "/static/data.js" not in without and 'data-api="/api/data"' not in without


def test_the_panel_names_no_engine_and_writes_no_html() -> None:
    """Engines and their trials keys come from /api/data (the registry); file contents are
    only ever text."""
    from hpsearch import registry
    from hpsearch.report.templating import STATIC

    script = (STATIC / "data.js").read_text()
    page = (STATIC.parent / "templates" / "runs.html").read_text()
    panel = page[page.index('id="data-panel"') :]
    panel = panel[: panel.index("</section>")]
    for name, engine in registry.engines().items():
        for word in (name, engine.trials_setting):
            assert word and f'"{word}"' not in script and word not in panel
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_max_upload_option(tmp_path: Path, monkeypatch, capsys) -> None:
    from hpsearch.cli import dispatch
    from hpsearch.serve import app

    made = {}
    monkeypatch.setattr(app, "create_app", lambda *a, **kw: made.update(kw) or 1 / 0)
    assert dispatch(["serve", str(tmp_path), "--max-upload", "0", "--port", "65123"]) == 2
    assert "--max-upload: expected at least 1 (MB), got 0" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):  # stopped once the app is made
        dispatch(["serve", str(tmp_path), "--max-upload", "5", "--port", "65123"])
    assert made["max_upload"] == 5_000_000
