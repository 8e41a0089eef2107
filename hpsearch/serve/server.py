"""Start the service with uvicorn: the address, the token, one line on how to reach it."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from hpsearch.compat import uvicorn as uvicorn_compat
from hpsearch.errors import InputError
from hpsearch.serve.security import HEADERS, is_loopback, new_token

SERVER_NICE = 10


def serve(
    results_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    data_dirs: list[Path] | None = None,
    allow_cluster: bool = False,
    allow_factories: tuple[str, ...] = (),
    max_upload_mb: int = 200,
    keep_jobs_days: float = 30.0,
) -> int:
    """Serve until Ctrl-C or SIGTERM; the running study is stopped cleanly and resumed by
    the next `serve`."""
    import uvicorn

    from hpsearch.serve.app import create_app  # lazy: loads FastAPI, pandas, pydantic

    if not 0 < port < 65536:
        raise InputError(f"--port: expected 1-65535, got {port}")
    if results_dir.exists() and not results_dir.is_dir():
        raise InputError(f"{results_dir}: expected a results folder, found a file")
    if max_upload_mb < 1:
        raise InputError(f"--max-upload: expected at least 1 (MB), got {max_upload_mb}")
    if not keep_jobs_days >= 0:  # NaN too
        raise InputError(f"--keep-jobs: expected 0 or more days, got {keep_jobs_days}")
    if token is not None and len(token) < 16:
        raise InputError(f"--token: expected at least 16 characters, got {len(token)}")
    _check_port(host, port)
    generated = token is None and not is_loopback(host)
    token = new_token() if generated else token
    app = create_app(
        results_dir,
        host=host,
        port=port,
        token=token,
        data_roots=data_dirs,
        allow_cluster=allow_cluster,
        allow_factories=allow_factories,
        max_upload=max_upload_mb * 1000 * 1000,
        keep_jobs_days=keep_jobs_days,
    )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(
        f"hpsearch serve: {app.state.results} at {url}"
        + (" (the token is shown once)" if generated else ""),
        file=sys.stderr,
        flush=True,
    )
    # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown); ours would raise mid-request
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.platform == "linux":
        # Linux's nice value is per thread, inherited by the threads and processes it starts:
        # the queue's thread (and the studies it starts) keeps the normal priority, the web
        # server's threads take a lower one, so readers wait for the study, not the other way.
        app.state.executor.start()
        os.nice(SERVER_NICE)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        http=json_errors_protocol(),
    )
    streams = app.state.service.streams

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            streams.close_soon()  # the pages' event streams end now, not at the grace timeout
            super().handle_exit(sig, frame)

    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises it again after its shutdown
        server.run()
    print("hpsearch serve: stopped", file=sys.stderr)
    return 0 if server.started else 1


def _check_port(host: str, port: int) -> None:
    """A one-line error for an address in use, before uvicorn logs its own."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"--host/--port: expected a free address, got {host}:{port} ({exc.strerror or exc})"
            ) from None


@functools.cache
def json_errors_protocol() -> type[Any] | str:
    """uvicorn's HTTP protocol, answering a request its parser refuses (a Content-Length that
    is not a number, a broken request line) as the app answers: a JSON error, our headers."""

    return uvicorn_compat.answering_400(_json_400)


def _json_400(msg: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps(
        {
            "error": "request: expected HTTP/1.1 with well-formed headers "
            f"(a numeric Content-Length), got one the parser refused "
            f"({msg.rstrip('.')})"
        }
    ).encode()
    head = [b"HTTP/1.1 400 Bad Request"]
    head += [name + b": " + value for name, value in default_headers]
    head += [
        f"{name}: {value}".encode()
        for name, value in {
            **HEADERS,
            "Cache-Control": "no-store",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",
        }.items()
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body
