"""The service's HTTP as clients expect it: HEAD wherever GET works, Allow on 405, media types
case-insensitive, JSON errors (a bad Content-Length, a crash's 500 with the security headers),
the token in the URL only on pages, the API page, and every answered status documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpsearch.serve.app import create_app
from hpsearch.serve.jobs import QUEUE

from test_serve_api import GOOD, LOCAL, client, two_runs


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return two_runs(tmp_path)


RUN = "study/20260101-100000-aaaa"
READS = [
    "/",
    f"/runs/{RUN}",
    f"/compare?run={RUN}",
    "/api",
    "/api/runs",
    f"/api/runs/{RUN}",
    f"/api/runs/{RUN}/trials",
    f"/api/runs/{RUN}/histories",
    f"/api/compare?run={RUN}",
    "/api/jobs",
    f"/runs/{RUN}/files/trials.csv",
    "/static/serve.css",
    "/openapi.json",
]


def sent(app, method: str, path: str) -> list[dict]:
    """The ASGI messages the app sends for one request (TestClient drops HEAD bodies itself)."""
    import asyncio

    messages: list[dict] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765")],
        "server": ("127.0.0.1", 8765),
        "client": ("127.0.0.1", 50000),
    }
    # sleep(0, result): a coroutine that returns result at once
    asyncio.run(
        app(
            scope,
            lambda: asyncio.sleep(0, {"type": "http.request", "body": b""}),
            lambda message: asyncio.sleep(0, messages.append(message)),
        )
    )
    return messages


def test_head_answers_wherever_get_does(results: Path) -> None:
    c = client(results)
    for url in READS:
        got, head = c.get(url), c.head(url)
        assert got.status_code == head.status_code == 200, url
        assert head.headers["content-type"] == got.headers["content-type"], url
        assert head.headers["content-length"] == str(len(got.content)), url
        assert head.headers["x-content-type-options"] == "nosniff", url
    app = create_app(results, run_queue=False)
    for path in ("/api/runs", "/"):  # through the middleware: GET's headers, no body
        heads, gets = sent(app, "HEAD", path), sent(app, "GET", path)
        assert heads[0]["status"] == 200 and dict(heads[0]["headers"]) == dict(gets[0]["headers"])
        assert b"".join(m.get("body", b"") for m in heads[1:]) == b""
        assert b"".join(m.get("body", b"") for m in gets[1:]) != b""


@pytest.mark.parametrize(
    "method, url, allow",
    [
        ("delete", "/api/runs", "GET, HEAD"),
        ("get", "/api/studies", "POST"),
        ("head", "/api/studies", "POST"),
        ("put", f"/runs/{RUN}", "GET, HEAD"),
        ("get", f"/api/runs/{RUN}/stop", "POST"),
        ("get", "/api/runs/study/x%2Fstop", "POST"),  # an encoded '/' in a path parameter
        ("post", "/openapi.json", "GET, HEAD"),
    ],
)
def test_405_says_what_is_allowed(results: Path, method: str, url: str, allow: str) -> None:
    reply = client(results).request(method.upper(), url)
    assert reply.status_code == 405 and reply.headers["allow"] == allow
    if method != "head":
        assert reply.json() == {
            "error": f"method: expected {allow} on {url.replace('%2F', '/')}, got {method.upper()}"
        }


@pytest.mark.parametrize("kind", ["APPLICATION/TOML", "Application/Toml; charset=UTF-8"])
def test_media_types_are_case_insensitive(results: Path, kind: str) -> None:
    reply = client(results).post("/api/studies", content=GOOD, headers={"Content-Type": kind})
    assert reply.status_code == 201, reply.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_content_length_gets_a_json_400(results: Path, method: str) -> None:
    """Where a server lets it through (uvicorn does not: see the next test)."""
    reply = client(results).request(
        method.upper(),
        "/api/studies" if method == "post" else "/api/runs",
        content=GOOD,
        headers={"Content-Length": "12x"},
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": "Content-Length: expected a number of bytes, got '12x'"}
    assert not (results / QUEUE).exists()


def test_uvicorn_refusing_a_request_answers_json_with_our_headers(results: Path) -> None:
    import socket
    import threading
    import time

    import uvicorn

    from hpsearch.serve.server import json_errors_protocol

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(results, run_queue=False),
            host="127.0.0.1",
            port=port,
            log_level="error",
            http=json_errors_protocol(),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"
            )
            reply = b"".join(iter(lambda: conn.recv(65536), b""))
    finally:
        server.should_exit = True
        thread.join(10)
    head, _, body = reply.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400 ")
    assert (
        "content-type: application/json" in head.lower() and "x-frame-options: deny" in head.lower()
    )
    assert json.loads(body)["error"].startswith(
        "request: expected HTTP/1.1 with well-formed headers"
    )


def test_token_in_the_url_only_opens_pages(results: Path) -> None:
    token = "t" * 24
    remote = client(results, "http://10.1.2.3:8765", host="0.0.0.0", token=token)
    for method, url in (
        ("GET", f"/api/runs?token={token}"),
        ("POST", f"/api/studies?token={token}"),
    ):
        reply = remote.request(method, url, content=GOOD)
        assert reply.status_code == 401 and "?token=" in reply.json()["error"], url
    assert "hpsearch_token_8765" not in remote.cookies
    # a page: redirected to the same address without the token (the rest kept), cookie set
    opened = remote.get(f"/compare?run={RUN}&token={token}", follow_redirects=False)
    assert (
        opened.status_code == 303
        and opened.headers["location"] == "/compare?run=study%2F20260101-100000-aaaa"
    )
    assert "httponly" in opened.headers["set-cookie"].lower()
    assert remote.get(f"/api/runs?token={token}").status_code == 200  # by the cookie now
    assert remote.get("/?token=wrong", follow_redirects=False).status_code == 303  # cookie is right
    # on loopback, where reading needs no token, a wrong one still leaves the address
    local = client(results, token=token)
    wrong = local.get("/?token=wrong", follow_redirects=False)
    assert (
        wrong.status_code == 303
        and wrong.headers["location"] == "/"
        and "set-cookie" not in wrong.headers
    )
    assert local.post(f"/api/studies?token={token}", content=GOOD).status_code == 401
    fresh = client(results, "http://10.1.2.3:8765", host="0.0.0.0", token=token)
    assert fresh.get("/?token=wrong", follow_redirects=False).status_code == 401


def test_api_page_renders_the_openapi_document_without_external_urls(results: Path) -> None:
    c = client(results)
    page = c.get("/api")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    doc = c.get("/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert f"<code>{method.upper()} {path}</code>" in page.text
            assert op["description"].replace("'", "&#39;") in page.text
    assert "<code>study</code></td><td>path</td><td>string</td><td>yes</td>" in page.text
    assert '<a href="#schema-RunDetail"><code>RunDetail</code></a>' in page.text
    assert "<td>415</td>" in page.text and "dataset = &#34;california_housing&#34;" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
    assert '<a href="/api">API</a>' in c.get("/").text


def test_a_crash_is_a_json_500_with_the_security_headers(results: Path, monkeypatch) -> None:
    from hpsearch.serve import service

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "list_runs", crash)
    c = TestClient(
        create_app(results, run_queue=False), base_url=LOCAL, raise_server_exceptions=False
    )
    reply = c.get("/api/runs")
    assert reply.status_code == 500
    assert reply.json() == {"error": "internal error: RuntimeError: disk on fire"}
    assert reply.headers["content-security-policy"].startswith("default-src 'self'")
    assert (
        reply.headers["x-frame-options"] == "DENY" and reply.headers["cache-control"] == "no-store"
    )


def test_every_answered_status_is_documented(results: Path, monkeypatch) -> None:
    """Each operation driven to each answer it can give; every one is in /openapi.json, an
    error as the Error schema and body."""
    token = "t" * 24
    local, doc = client(results), client(results).get("/openapi.json").json()
    job = local.post("/api/studies", content=GOOD).json()["job"]["id"]
    ways = {
        "ok": local,
        "elsewhere": client(results, "http://evil.example:8765"),
        "no token": client(results, "http://10.1.2.3:8765", host="0.0.0.0", token=token),
        "crash": TestClient(
            create_app(results, run_queue=False), base_url=LOCAL, raise_server_exceptions=False
        ),
    }

    def crash_if_asked(guard, request):
        if request.headers.get("x-crash"):
            raise RuntimeError("boom")

    monkeypatch.setattr("hpsearch.serve.security._token_redirect", crash_if_asked)
    bodies = {"good": GOOD, "big": GOOD + "#" * 300_000, "bad": "[study]\n", "form": GOOD}
    values = {
        "study": ["study", "nope", "runs"],
        "run_id": [RUN.split("/")[1], "x", "x/stop"],
        "job_id": [job, "x", "x/stop"],
    }  # x/stop: an encoded '/', another route's path
    answered: dict[tuple[str, str], set[int]] = {}
    for path, methods in doc["paths"].items():
        names = [n for n in values if "{" + n + "}" in path]
        for method in methods:
            for i in range(3 if names else 1):
                url = path.format(**{n: values[n][i].replace("/", "%2F") for n in names})
                for query in ("", f"?run={RUN}", "?run=study/nope") if "compare" in path else ("",):
                    for way, c in ways.items():
                        for body, content in bodies.items() if method == "post" else [("", "")]:
                            headers = {"Content-Type": "text/plain"} if body == "form" else {}
                            if way == "crash":
                                headers["X-Crash"] = "1"
                            if way == "ok" and body == "good":
                                headers["Origin"] = "http://evil.example" if i == 2 else LOCAL
                            reply = c.request(
                                method.upper(), url + query, content=content, headers=headers
                            )
                            answered.setdefault((path, method), set()).add(reply.status_code)
                            if reply.status_code >= 400:
                                assert list(reply.json()) == ["error"], (url, reply.text)
    seen = set()
    for (path, method), codes in answered.items():
        documented = doc["paths"][path][method]["responses"]
        for code in codes:
            assert str(code) in documented, f"{method.upper()} {path} answers {code}, undocumented"
            if code >= 400:
                assert documented[str(code)]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }
            seen.add(code)
    assert seen >= {
        200,
        201,
        400,
        401,
        403,
        404,
        405,
        409,
        413,
        415,
        422,
        500,
    }  # 202: a running run


@pytest.mark.parametrize("tail", ["", "/trials", "/histories", "/importance"])
def test_a_poll_of_an_unchanged_answer_is_a_304(results: Path, tail: str) -> None:
    """The run page sends the ETag it holds; the answer comes back without its bytes until
    the run's files change (then whole, with a new ETag)."""
    c = client(results)
    url = f"/api/runs/{RUN}{tail}"
    first = c.get(url)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"')
    again = c.get(url, headers={"If-None-Match": f'"other", W/{tag}'})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    assert again.headers["X-Content-Type-Options"] == "nosniff"  # the security headers too
    assert "content-length" not in again.headers or again.headers["content-length"] == "0"
    assert c.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    run_dir = results / RUN
    trials = run_dir / "trials.csv"  # a trial finishes
    lines = trials.read_text().splitlines(True)
    trials.write_text(lines[0] + "".join(lines[1:]) + lines[-1].replace(",00", ",09", 1))
    (run_dir / "histories.csv").write_text((run_dir / "histories.csv").read_text() * 2)
    changed = c.get(url, headers={"If-None-Match": tag})
    if tail in ("/trials", "/histories"):  # the run's detail and importance may stay the same
        assert changed.status_code == 200 and changed.headers["ETag"] != tag
