"""The JSON API's shapes, for the OpenAPI document (/openapi.json). Field names are stable:
new fields may be added, none renamed or removed. Responses are built as plain dicts
(hpsearch/serve/runs.py) and documented here; hpsearch/serve/openapi.py finishes the document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["running", "queued", "finished", "interrupted", "failed"]
JobState = Literal["queued", "running", "finished", "failed", "interrupted", "cancelled"]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    error: str  # the same one line the command line prints


class EngineBest(Open):
    engine: str
    state: str | None
    metric: str | None
    direction: Literal["maximize", "minimize"] | None
    best_trial: str | None
    best_val_score: float | None
    test_metric: str | None
    test_score: float | None


class RunSummary(Open):
    id: str  # "study/run_id"
    study: str
    run_id: str
    dataset: str | None
    engines: list[str]
    state: State
    message: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    trials_done: int
    trials_planned: int | None
    best: list[EngineBest]
    tags: list[str] = Field(default_factory=list, description="the user's tags (meta.json)")
    note: str = Field("", description="the user's note (meta.json)")
    job: str | None
    url: str
    api: str


class Job(Open):
    id: str
    study: str
    kind: Literal["run", "resume"]
    state: JobState
    run: str | None
    submitted_at: str
    started_at: str | None
    ended_at: str | None
    message: str
    position: int | None  # place in the queue, while queued


class JobReply(BaseModel):
    job: Job


class Facets(BaseModel):
    engines: list[str]  # of every run: what the page's filters offer
    tags: list[str]


class RunList(BaseModel):
    runs: list[RunSummary]  # those the query (q, state, engine, tag) finds; all without one
    jobs: list[Job]
    total: int = Field(description="every run, found or not")
    facets: Facets


class RunMeta(BaseModel):
    run: str  # "study/run_id"
    tags: list[str]
    note: str
    updated_at: str | None


class TrashedRun(BaseModel):
    id: str  # "study/run_id", as it was and will be again once restored
    study: str
    run_id: str
    deleted_at: str | None
    state: str | None  # when it was deleted
    dataset: str | None
    engines: list[str]
    tags: list[str]
    note: str
    taken: bool = Field(description="a run holds its name again: restoring it answers 409")
    restore: str  # the URL to POST to restore it


class Trashed(BaseModel):
    trashed: TrashedRun


class TrashList(BaseModel):
    runs: list[TrashedRun]  # the last deleted first


class Restored(BaseModel):
    run: RunSummary


class Emptied(BaseModel):
    removed: int  # runs removed for good


class DownloadFile(BaseModel):
    name: str
    url: str
    bytes: int
    download: str = Field(description="the name it is saved as: STUDY-RUN_ID-FILE")


class RunDetail(RunSummary):
    status: dict[str, Any] | None  # status.json: updated_at, engine_order, engines
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


class Importance(BaseModel):
    run: str
    rows: list[dict[str, Any]]  # engine, parameter, importance (an engine's shares add up to 1)
    note: str  # why there are none yet ("" when there are)


class Progress(BaseModel):
    run: str
    engine: str
    series: str
    cum_fit: list[float | None]
    best: list[float | None]


class Compare(BaseModel):
    runs: list[RunSummary]
    table: list[dict[str, Any]]  # one row per run and engine, as `hpsearch compare` writes
    progress: list[Progress]


class DataColumn(BaseModel):
    name: str
    kind: Literal["numeric", "categorical", "text"]


class DataArray(BaseModel):
    name: str
    shape: list[int]
    dtype: str


class DataFile(Open):
    name: str
    path: str  # absolute: what a study's [data] train names
    format: Literal["csv", "parquet", "npz"]
    bytes: int
    rows: int | None = None
    columns: list[DataColumn] | None = None  # CSV, Parquet
    preview: list[list[Any]] | None = None  # CSV, Parquet: the first rows, as the columns
    arrays: list[DataArray] | None = None  # NPZ
    error: str | None = Field(None, description="why the file cannot be read (then no rows)")


class EngineChoice(BaseModel):
    name: str
    colour: str
    default: bool  # run by a study that names no engines
    trials_setting: str | None  # the engine's key counting its trials: n_iter, n_trials ...


class DataFiles(BaseModel):
    folder: str
    max_upload: int  # bytes
    files: list[DataFile]
    engines: list[EngineChoice]
