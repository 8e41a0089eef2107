"""uvicorn's private HTTP protocol class (`protocols.http.httptools_impl.HttpToolsProtocol`),
subclassed to answer a request its parser refuses in hpsearch's own way.

Version guard: a fallback outside SUPPORTED (or without httptools): uvicorn's own protocol
("auto"), whose answer to such a request is a plain-text 400 instead of hpsearch's JSON
one; the service itself is unchanged, so a newer uvicorn still serves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpsearch.compat import Span, supported

DIST = "uvicorn"
SUPPORTED: Span = ("0.29", "0.55")  # pyproject asks >= 0.29; 0.55 tested

Answer = Callable[[str, list[tuple[bytes, bytes]]], bytes]


def answering_400(answer: Answer) -> type[Any] | str:
    """uvicorn's httptools protocol, sending `answer(message, default_headers)` (the whole
    response) to a request its parser refuses, then closing; "auto" where it cannot."""
    if not supported(DIST, SUPPORTED):
        return "auto"
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed
        return "auto"

    class Answering400(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(answer(msg, self.server_state.default_headers))
            self.transport.close()

    return Answering400
