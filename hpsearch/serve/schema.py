"""The JSON API's shapes, for the OpenAPI document (/openapi.json). Field names are stable:
new fields may be added, none renamed or removed. Responses are built as plain dicts
(hpsearch/serve/runs.py) and documented here."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict

State = Literal["running", "queued", "finished", "interrupted", "failed"]
JobState = Literal["queued", "running", "finished", "failed", "interrupted", "cancelled"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    error: str  # the same one line the command line prints


class EngineBest(Open):
    engine: str
    state: Optional[str]
    metric: Optional[str]
    direction: Optional[Literal["maximize", "minimize"]]
    best_trial: Optional[str]
    best_val_score: Optional[float]
    test_metric: Optional[str]
    test_score: Optional[float]


class RunSummary(Open):
    id: str  # "study/run_id"
    study: str
    run_id: str
    dataset: Optional[str]
    engines: list[str]
    state: State
    message: str
    started_at: Optional[str]
    finished_at: Optional[str]
    duration_seconds: Optional[float]
    trials_done: int
    trials_planned: Optional[int]
    best: list[EngineBest]
    job: Optional[str]
    url: str
    api: str


class Job(Open):
    id: str
    study: str
    kind: Literal["run", "resume"]
    state: JobState
    run: Optional[str]
    submitted_at: str
    started_at: Optional[str]
    ended_at: Optional[str]
    message: str
    position: Optional[int]  # place in the queue, while queued


class JobReply(BaseModel):
    job: Job


class RunList(BaseModel):
    runs: list[RunSummary]
    jobs: list[Job]


class DownloadFile(BaseModel):
    name: str
    url: str
    bytes: int


class RunDetail(RunSummary):
    status: Optional[dict[str, Any]]  # status.json: updated_at, engine_order, engines
    summary: list[dict[str, Any]]  # summary.csv rows: engine, best_val_score, test_*, param_* ...
    info: dict[str, Any]  # seed, sizes, source, resumed_at, wall_seconds
    files: list[DownloadFile]
    can_stop: bool
    can_resume: bool


class Trials(BaseModel):
    run: str
    columns: list[str]
    # trials.csv rows plus plotting fields: order, ok, failed, pruned, score, group, higher,
    # best (best so far), cum_fit (cumulative fit seconds), elapsed (seconds since the start)
    trials: list[dict[str, Any]]
    top: dict[str, list[str]]  # engine -> best trial ids, best first


class Histories(BaseModel):
    run: str
    rows: dict[str, list[Any]]  # columnar: engine, trial, fit, epoch, metric, value


class Progress(BaseModel):
    run: str
    engine: str
    series: str
    cum_fit: list[Optional[float]]
    best: list[Optional[float]]


class Compare(BaseModel):
    runs: list[RunSummary]
    table: list[dict[str, Any]]  # one row per run and engine, as `hpsearch compare` writes
    progress: list[Progress]
