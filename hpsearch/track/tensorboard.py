"""TensorBoard: each trial's hyperparameters, curves and score, for the HParams dashboard.

`[track] tensorboard = "DIR"` (or `run --tensorboard DIR`), then `tensorboard --logdir DIR`:
the HParams tab's table and parallel-coordinates view list every trial of every run. Layout:

    DIR/<study>/<run-id>/<engine>-<trial>/   one trial: its values (and hpsearch/engine,
                                             hpsearch/status: ok, failed or pruned), val_score,
                                             and epoch/<metric> per epoch (the mean over its
                                             fits, CV folds)

Each trial is one event file, written when the trial finishes under a name TensorBoard skips
and renamed into place: a reader never sees half a trial, and a trial already written is not
written again (a resumed run reports its finished trials again; `sync` catches up from the run
folder). Only TensorBoard's protocol buffers are used: no TensorFlow import.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from hpsearch.rundir.folder import HISTORIES, TRIALS
from hpsearch.study.trials import TrialRecord, read_histories, read_trials

VAL_SCORE = "val_score"
_DONE: dict[Path, set[str]] = {}  # log folder of a run -> its trials written by this process
EVENTS = "events.out.tfevents"  # TensorBoard reads the files whose names hold "tfevents"


def _protos() -> tuple[Any, Any, Any, Any, Any, Any]:
    # lazy: tensorboard is only needed where a study asks for it
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp

    return event_pb2, summary_pb2, api_pb2, metadata, plugin_data_pb2, hp


def _write(folder: Path, summaries: list[tuple[Any, int, float]]) -> None:
    """One event file of (summary, step, wall time) into `folder`, atomically."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    event_pb2 = _protos()[0]
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{int(time.time())}.{socket.gethostname()}.{os.getpid()}.hpsearch"
    part = folder / f"partial.{stamp}"  # no "tfevents": TensorBoard skips it
    with part.open("wb") as out:
        writer = RecordWriter(out)
        first = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        writer.write(first.SerializeToString())
        for summary, step, wall in summaries:
            event = event_pb2.Event(wall_time=wall, step=step, summary=summary)
            writer.write(event.SerializeToString())
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, folder / f"{EVENTS}.{stamp}")


def _written(folder: Path) -> bool:
    return folder.is_dir() and any(EVENTS in p.name for p in folder.iterdir())


def _seconds(when: str) -> float:
    try:
        return datetime.fromisoformat(when).timestamp()
    except ValueError:
        return time.time()


def _hparam_value(value: Any) -> Any:
    """A value TensorBoard's hparams take: bool, number or text (None and NaN as text)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    if hasattr(value, "item"):
        return _hparam_value(value.item())
    return str(value)


class TensorBoardLog:
    """One run's trials into a TensorBoard log folder, as each finishes. No experiment summary
    is written: TensorBoard infers each hyperparameter's type and range, and the metrics, from
    the trials themselves (a parameter only some trials have is listed too)."""

    def __init__(self, logdir: Path, run_dir: Path) -> None:
        self.folder = Path(logdir) / run_dir.parent.name / run_dir.name
        # the trials this process wrote: a live sync looks at no folder twice
        self.done = _DONE.setdefault(self.folder.resolve(), set())

    def on_trial(self, record: TrialRecord, history: Iterable[dict[str, Any]]) -> bool:
        """One finished trial and its per-epoch rows; False if it was written already."""
        folder = self.folder / f"{record.engine}-{record.trial}"
        if folder.name in self.done or _written(folder):
            self.done.add(folder.name)
            return False
        _, summary_pb2, api_pb2, metadata, plugin_data_pb2, hp = _protos()
        start, end = _seconds(record.started_at), _seconds(record.finished_at)
        values = {k: _hparam_value(v) for k, v in record.params.items()}
        values.update({"hpsearch/engine": record.engine, "hpsearch/status": record.status})
        trial_id = f"{self.folder.parent.name}/{self.folder.name}/{folder.name}"  # unique
        summaries = [(hp.hparams_pb(values, trial_id=trial_id, start_time_secs=start), 0, start)]
        epochs: dict[tuple[str, int], list[float]] = defaultdict(list)
        for row in history:
            value = float(row["value"])
            if math.isfinite(value):
                epochs[(str(row["metric"]), int(row["epoch"]))].append(value)
        for (metric, epoch), found in sorted(epochs.items()):
            scalar = summary_pb2.Summary.Value(
                tag=f"epoch/{metric}", simple_value=sum(found) / len(found)
            )
            summaries.append((summary_pb2.Summary(value=[scalar]), epoch, end))
        if math.isfinite(record.val_score):
            steps = int(record.epochs_run) if math.isfinite(record.epochs_run) else 0
            scalar = summary_pb2.Summary.Value(tag=VAL_SCORE, simple_value=record.val_score)
            summaries.append((summary_pb2.Summary(value=[scalar]), steps, end))
        # TensorBoard knows success and failure only: a pruned trial, stopped early by the
        # search with its score kept, is a success; "hpsearch/status" tells them apart
        status = api_pb2.STATUS_FAILURE if record.failed else api_pb2.STATUS_SUCCESS
        ended = plugin_data_pb2.HParamsPluginData(
            session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end)
        )
        value = summary_pb2.Summary.Value(
            tag=metadata.SESSION_END_INFO_TAG,
            metadata=metadata.create_summary_metadata(ended),
            tensor=metadata.NULL_TENSOR,
        )
        summaries.append((summary_pb2.Summary(value=[value]), 0, end))
        _write(folder, summaries)
        self.done.add(folder.name)
        return True


def sync(log: TensorBoardLog, run_dir: Path) -> int:
    """Every finished trial of the run folder not in the log yet (a resumed run, an export);
    how many were written."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in read_histories(run_dir / HISTORIES):
        rows[(str(row["engine"]), str(row["trial"]))].append(row)
    return sum(
        log.on_trial(record, rows.get((record.engine, record.trial), []))
        for record in read_trials(run_dir / TRIALS)
    )


def sync_folder(run_dir: Path, logdir: str) -> int:
    """`sync` into the log folder `logdir` (the trackers' and `hpsearch export`'s form)."""
    return sync(TensorBoardLog(Path(logdir), run_dir), run_dir)
