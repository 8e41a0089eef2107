"""Every study file shipped under studies/ is a valid study (the README and
benchmarks/RESULTS.md point users at them). A study on its own data file may lack the file
(its comments say how to export it): then the missing file is its only complaint."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.errors import StudyError
from hpsearch.study.config import load_study

STUDIES = sorted((Path(__file__).resolve().parent.parent / "studies").glob("*.toml"))


def test_there_are_studies() -> None:
    assert len(STUDIES) >= 7


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_study_loads(path: Path) -> None:
    try:
        study = load_study(path)
    except StudyError as exc:
        own_data = "\n[data]" in path.read_text(encoding="utf-8")
        if not (own_data and "data.train: expected an existing data file" in str(exc)):
            raise
        return
    assert study.name == path.stem
    assert study.engines
