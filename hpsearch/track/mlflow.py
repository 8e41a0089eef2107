"""MLflow tracking of a run folder: `sync(run_dir, uri)` sends what the server lacks.

One parent MLflow run per hpsearch run (experiment: the study's name) and one nested run per
trial. Runs are found again by their tags, never remembered locally, so any number of syncs
(live ones during the run, `hpsearch export mlflow` later, from another machine) log each
thing once:

    parent  hpsearch.run = <study>/<run-id>      params: dataset, seed, engines, ...
    child   hpsearch.trial = <engine>/<trial>    params, val_score, per-epoch metrics
            hpsearch.digest = its record's       (step = epoch), tag outcome = ok|failed|pruned
            hpsearch.history = rows logged

A child is logged whole and its digest tag set last: a child without it (a sync cut off) or
with another digest (a trial whose record changed: a halving rung, a resumed engine) is
deleted and logged again; one whose history only grew (the sklearn engine adds its best
trial's refit curve at its end) gets the new rows. Artifacts and models carry the digest of the file they came from
as a tag of the parent, and are sent again only when it changes. mlflow is imported lazily:
hpsearch imports without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hpsearch.errors import InputError
from hpsearch.rundir.folder import HISTORIES, REPORT, SUMMARY, TRIALS, read_info
from hpsearch.rundir.read import read_summary
from hpsearch.study.trials import TrialRecord, read_histories, read_trials
from hpsearch.track.mlflow_models import log_models

INSTALL = 'pip install "hpsearch[mlflow]"'
RUN_TAG, TRIAL_TAG, DIGEST_TAG = "hpsearch.run", "hpsearch.trial", "hpsearch.digest"
HISTORY_TAG = "hpsearch.history"  # <rows logged>:<their digest>, of the sorted history rows
OUTCOME_TAG, BEST_TAG = "outcome", "hpsearch.best"
ARTIFACTS = (TRIALS, SUMMARY, REPORT)
# status.json's state -> the parent's MLflow status; a trial's outcome -> its child's
RUN_STATUS = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}
TRIAL_STATUS = {"ok": "FINISHED", "failed": "FAILED", "pruned": "KILLED"}
BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics (and 100 params) a call


def installed() -> bool:
    """Whether mlflow can be imported (without importing it: it takes a second or two)."""
    return importlib.util.find_spec("mlflow") is not None


def require() -> None:
    """One line, exit 2, when tracking is asked for without mlflow installed."""
    if not installed():
        raise InputError(f"tracking with MLflow needs the mlflow package: {INSTALL}")


@dataclass
class Sent:
    """What one sync sent (0s when the server had everything already)."""

    parent: str = ""  # the parent run's id
    trials: int = 0
    artifacts: int = 0
    models: int = 0

    def __str__(self) -> str:
        return (
            f"parent run {self.parent}: {self.trials} trial runs, "
            f"{self.artifacts} artifacts, {self.models} models sent"
        )


def sync(run_dir: str | Path, tracking_uri: str) -> Sent:
    """Send what the tracking server lacks of `run_dir`; safe to repeat (see the docstring)."""
    require()
    from mlflow import MlflowClient

    # MLflow's own notices (tables created, pickle caution) are not the run's: errors only;
    # and stdout is hpsearch's (its last line is the run folder), not MLflow's "View run" links
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    run_dir = Path(run_dir)
    info = read_info(run_dir)
    study = str(info.get("study") or run_dir.parent.name)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(study)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(study)
    parent = _parent(client, exp_id, f"{study}/{run_dir.name}", run_dir.name, info)
    sent = Sent(parent.info.run_id)
    children: dict[str, Any] = {}
    for child in _search(client, exp_id, f"tags.`mlflow.parentRunId` = '{sent.parent}'"):
        key = child.data.tags.get(TRIAL_TAG, "")
        if key in children:  # two syncs at once (a live run and an export) both made it
            client.delete_run(child.info.run_id)
        else:
            children[key] = child
    histories: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in read_histories(run_dir / HISTORIES):
        histories.setdefault((str(row["engine"]), str(row["trial"])), []).append(row)
    for record in read_trials(run_dir / TRIALS):
        key = f"{record.engine}/{record.trial}"
        history = _sorted(histories.get((record.engine, record.trial), []))
        digest = fingerprint(record.row())
        child = children.get(key)
        if child is not None and child.data.tags.get(DIGEST_TAG) == digest:
            logged = _logged_rows(child, history)
            if logged == len(history):
                continue
            if logged is not None:  # rows added since (the sklearn engine's refit, at its end)
                _log_history(client, child.info.run_id, record, history, logged)
                sent.trials += 1
                continue
        if child is not None:  # cut off while logged, or its record changed since
            client.delete_run(child.info.run_id)
        children[key] = _log_trial(client, exp_id, sent.parent, record, history, digest)
        sent.trials += 1
    summary = read_summary(run_dir)
    best = _log_scores(client, parent, summary, children)
    sent.artifacts = _log_artifacts(client, parent, run_dir)
    sent.models = log_models(
        tracking_uri, parent, run_dir, best, lambda tags: send_tags(client, parent, tags)
    )
    _log_state(client, parent, run_dir)
    return sent


def _search(client: Any, exp_id: str, where: str) -> list[Any]:
    """Every active run of the experiment matching `where` (all pages)."""
    found, token = [], None
    while True:
        page = client.search_runs([exp_id], where, max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _parent(client: Any, exp_id: str, label: str, name: str, info: dict[str, Any]) -> Any:
    """The hpsearch run's MLflow run, made on first sight; its params sent if missing."""
    found = _search(client, exp_id, f"tags.`{RUN_TAG}` = '{label}'")
    if found:
        parent = found[0]
    else:
        tags = {RUN_TAG: label, "mlflow.runName": name, "mlflow.source.name": "hpsearch"}
        parent = client.create_run(exp_id, start_time=_ms(info.get("started_at")), tags=tags)
    params = {
        "dataset": info.get("dataset"),
        "task": info.get("task"),
        "seed": info.get("seed"),
        "engines": ",".join(info.get("engines") or []),
        "model": info.get("model"),
        "data_fingerprint": info.get("data_fingerprint"),
    }
    missing = {k: v for k, v in params.items() if v is not None and k not in parent.data.params}
    if missing:
        from mlflow.entities import Param

        client.log_batch(parent.info.run_id, params=[Param(k, str(v)) for k, v in missing.items()])
    return parent


def _log_trial(
    client: Any,
    exp_id: str,
    parent_id: str,
    record: TrialRecord,
    history: list[dict[str, Any]],
    digest: str,
) -> Any:
    """A trial's nested run, whole: params, scores, per-epoch metrics, outcome; digest last."""
    from mlflow.entities import Metric, Param, RunTag

    tags = {
        "mlflow.parentRunId": parent_id,
        "mlflow.runName": f"{record.engine}-{record.trial}",
        TRIAL_TAG: f"{record.engine}/{record.trial}",
        "hpsearch.engine": record.engine,
        OUTCOME_TAG: record.status,
        "metric": record.metric,
        "direction": record.direction,
    }
    if record.error:
        tags["error"] = record.error[:5000]
    if record.rungs:
        tags["rungs"] = record.rungs
    run = client.create_run(exp_id, start_time=_ms(record.started_at), tags=tags)
    run_id, stamp = run.info.run_id, _ms(record.finished_at)
    params = [Param(k, str(v)[:6000]) for k, v in record.params.items() if v == v]
    metrics = [
        Metric(name, float(value), stamp, 0)
        for name in ("val_score", "cv_mean", "cv_std", "epochs_run", "fit_seconds")
        if _finite(value := getattr(record, name))
    ]
    for start in range(0, max(len(params), len(metrics), 1), BATCH):
        client.log_batch(
            run_id, metrics=metrics[start : start + BATCH], params=params[start : start + 100]
        )
    for start in range(BATCH, len(params), 100):  # past the metrics' batches (a wide factory)
        client.log_batch(run_id, params=params[start : start + 100])
    client.set_terminated(run_id, TRIAL_STATUS.get(record.status, "FINISHED"), end_time=stamp)
    _log_history(client, run_id, record, history, 0)
    client.log_batch(run_id, tags=[RunTag(DIGEST_TAG, digest)])  # last: the child is whole
    return client.get_run(run_id)


def _sorted(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trial's history rows in one order (fit, metric, epoch): rows of a fit added later
    (a refit) come after those already logged, whatever order the file has them in."""
    return sorted(history, key=lambda r: (str(r["fit"]), str(r["metric"]), int(r["epoch"])))


def _logged_rows(child: Any, history: list[dict[str, Any]]) -> int | None:
    """How many of `history`'s first rows the trial's run has (None: not a prefix of them)."""
    count, _, digest = child.data.tags.get(HISTORY_TAG, "").partition(":")
    if not count.isdigit() or int(count) > len(history):
        return None
    return int(count) if fingerprint(history[: int(count)]) == digest else None


def _log_history(
    client: Any, run_id: str, record: TrialRecord, history: list[dict[str, Any]], start: int
) -> None:
    """Rows `start:` of the trial's per-epoch history, step = epoch; then the tag that says
    how many are logged. The first fit's curves keep the metric's own name, further fits'
    (folds, halving rungs, the final refit) are <fit>/<metric>: a fit added later renames none."""
    from mlflow.entities import Metric, RunTag

    stamp, first = _ms(record.finished_at), min((str(r["fit"]) for r in history), default="")
    metrics = [
        Metric(
            str(row["metric"]) if str(row["fit"]) == first else f"{row['fit']}/{row['metric']}",
            float(row["value"]),
            stamp,
            int(row["epoch"]),
        )
        for row in history[start:]
        if _finite(row["value"])
    ]
    for at in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[at : at + BATCH])
    done = f"{len(history)}:{fingerprint(history)}"
    client.log_batch(run_id, tags=[RunTag(HISTORY_TAG, done)])


def _log_scores(client: Any, parent: Any, summary: Any, children: dict[str, Any]) -> dict[str, Any]:
    """summary.csv's best and test scores on the parent (<engine>.<score>) and on each engine's
    best trial; returns engine -> that trial's run."""
    best: dict[str, Any] = {}
    for row in summary.to_dict("records") if len(summary) else []:
        engine, trial = str(row.get("engine")), str(row.get("best_trial") or "")
        trial = trial.zfill(3) if trial.isdigit() else trial  # a CSV may drop the zeros
        child = children.get(f"{engine}/{trial}")
        scores = {k: v for k, v in row.items() if str(k).startswith("test_") and _finite(v)}
        _send_metrics(
            client,
            parent,
            {
                **{f"{engine}.{k}": v for k, v in scores.items()},
                **(
                    {f"{engine}.best_val_score": row["best_val_score"]}
                    if _finite(row.get("best_val_score"))
                    else {}
                ),
            },
        )
        send_tags(client, parent, {f"{BEST_TAG}.{engine}": trial} if trial else {})
        if child is not None:
            _send_metrics(client, child, scores)
            send_tags(client, child, {BEST_TAG: "true"})
            best[engine] = child
    return best


def _send_metrics(client: Any, run: Any, values: dict[str, Any]) -> None:
    from mlflow.entities import Metric

    now = _ms(None)
    fresh = [
        Metric(k, float(v), now, 0)
        for k, v in values.items()
        if run.data.metrics.get(k) != float(v)
    ]
    if fresh:
        client.log_batch(run.info.run_id, metrics=fresh)
        run.data.metrics.update({m.key: m.value for m in fresh})


def send_tags(client: Any, run: Any, values: dict[str, str]) -> None:
    from mlflow.entities import RunTag

    fresh = [RunTag(k, v) for k, v in values.items() if run.data.tags.get(k) != v]
    if fresh:
        client.log_batch(run.info.run_id, tags=fresh)
        run.data.tags.update({t.key: t.value for t in fresh})


def _log_artifacts(client: Any, parent: Any, run_dir: Path) -> int:
    """trials.csv, summary.csv and report.html on the parent, each when it changed."""
    sent = 0
    for name in ARTIFACTS:
        path = run_dir / name
        if not path.is_file():
            continue
        digest = fingerprint(path.read_bytes())
        if parent.data.tags.get(f"hpsearch.artifact.{name}") != digest:
            client.log_artifact(parent.info.run_id, str(path))
            send_tags(client, parent, {f"hpsearch.artifact.{name}": digest})
            sent += 1
    return sent


def _log_state(client: Any, parent: Any, run_dir: Path) -> None:
    """The parent's status follows status.json's state (a resume sets it running again)."""
    from hpsearch.rundir.live import read_status

    try:
        state = read_status(run_dir)
    except InputError:
        return
    status = RUN_STATUS.get(state["state"], "RUNNING")
    send_tags(client, parent, {"hpsearch.state": state["state"]})
    if parent.info.status == status:
        return
    if status == "RUNNING":
        client.update_run(parent.info.run_id, status="RUNNING")
    else:
        client.set_terminated(parent.info.run_id, status, end_time=_ms(state.get("updated_at")))


def fingerprint(value: Any) -> str:
    """A short fingerprint of what was logged (NaN and NumPy numbers written alike)."""
    data = value if isinstance(value, bytes) else json.dumps(_plain(value), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _ms(stamp: str | None) -> int:
    """An ISO time as MLflow's milliseconds since the epoch; now if missing or unreadable."""
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return int(datetime.now().timestamp() * 1000)
