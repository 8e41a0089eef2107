"""Heartbeats: a worker's beats, and the run's judgement of who is lost (by its own clock)."""

from __future__ import annotations

import json
from pathlib import Path

from hpsearch.runtime import heartbeat
from hpsearch.runtime.heartbeat import Heartbeat, Liveness


def test_a_silent_worker_is_lost_once_and_a_done_one_never(tmp_path: Path, monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])
    quiet, busy, done = (
        Heartbeat(tmp_path / f"{n}.json", n, 60) for n in ("quiet", "busy", "done")
    )
    for beat in (quiet, busy, done):
        beat.beat()
    done.beat(done=True)
    live = Liveness(tmp_path, timeout=10)
    assert live.lost() == [] and sorted(live.alive()) == ["busy", "quiet"]
    clock[0] += 9
    busy.beat()
    assert live.lost() == []  # 9 s of silence: not yet
    clock[0] += 2
    assert live.lost() == ["quiet"]  # 11 s: lost; busy beat 2 s ago
    assert live.lost() == [] and live.alive() == ["busy"]  # reported once
    quiet.beat()  # it was only slow: beating again, it counts as alive
    assert sorted(live.alive()) == ["busy", "quiet"] and live.lost() == []
    clock[0] += 30  # (silence counts from when the run last saw a beat change)
    assert sorted(live.lost()) == ["busy", "quiet"]


def test_a_stopped_heartbeat_says_done_only_after_a_clean_stop(tmp_path: Path) -> None:
    clean, crashed = (
        Heartbeat(tmp_path / "a.json", "a", 0.2),
        Heartbeat(tmp_path / "b.json", "b", 0.2),
    )
    for beat in (clean, crashed):
        beat.start()
    clean.stop(done=True)
    crashed.stop(done=False)
    assert json.loads((tmp_path / "a.json").read_text())["done"] is True
    assert json.loads((tmp_path / "b.json").read_text())["done"] is False


def test_a_worker_restarted_under_its_name_is_judged_afresh(tmp_path: Path, monkeypatch) -> None:
    """Its beats count from 1 again: lost at beat 1 before, it is alive after a restart, and
    lost again (reported again) when the restarted process goes silent at beat 1 too."""
    clock = [0.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])
    path, live = tmp_path / "w.json", Liveness(tmp_path, timeout=5)
    for pid in (111, 222):
        path.write_text(
            json.dumps({"worker": "w", "host": "h", "pid": pid, "beat": 1, "done": False})
        )
        assert live.lost() == [] and live.alive() == ["w"]
        clock[0] += 6
        assert live.lost() == ["w"]
