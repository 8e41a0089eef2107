"""The runs list searched and filtered: the same rules for GET /api/runs?q=&state=&engine=&tag=
and for the runs page, which asks the API rather than filter a second way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.errors import InputError

STATES = ("running", "queued", "finished", "interrupted", "failed")
MAX_QUERY = 200


@dataclass(frozen=True)
class Search:
    """What the runs list is narrowed to; an empty field narrows nothing."""

    q: str = ""
    state: str = ""
    engine: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.q) > MAX_QUERY:
            raise InputError(f"q: expected at most {MAX_QUERY} characters, got {len(self.q)}")
        if self.state and self.state not in STATES:
            raise InputError(f"state: expected one of {', '.join(STATES)}, got {self.state!r}")

    def matches(self, run: dict[str, Any]) -> bool:
        """Every word of `q` in the study, run id, a tag or the note (any case); the state,
        an engine and every tag asked for."""
        if self.state and run.get("state") != self.state:
            return False
        if self.engine and self.engine not in (run.get("engines") or []):
            return False
        tags = run.get("tags") or []
        if any(t not in tags for t in self.tags):
            return False
        text = " ".join(
            [run.get("study") or "", run.get("run_id") or "", *tags, run.get("note") or ""]
        )
        text = text.casefold()
        return all(word in text for word in self.q.casefold().split())


def facets(runs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The engines and tags of every run: what the page's filters offer."""
    engines = sorted({str(e) for r in runs for e in r.get("engines") or []})
    tags = sorted({str(t) for r in runs for t in r.get("tags") or []}, key=str.casefold)
    return {"engines": engines, "tags": tags}
