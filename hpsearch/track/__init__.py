"""Trackers: a run folder mirrored where teams already look (MLflow).

Each tracker's core is an idempotent `sync(run_dir, where)` that reads the run folder and
sends what the tracker lacks; `background.Tracker` calls it from a thread of its own as
trials finish, and `hpsearch export` calls it for runs made earlier. Trackers read run
folders only: the runner and the commands import them, never the other way round.
"""
