"""A BFL batch against a hostile host: a submit that may have created its task is held, never
sent again silently by a later run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flux2prompt.batch import load_job, run_batch

from .test_batch_bfl import KEY, write_job


@contextmanager
def failing_submits(status: int) -> Iterator[tuple[str, list[str]]]:
    """A loopback BFL host whose every submit answers ``status``: its base URL, and the
    requests it saw (method and path)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"POST {self.path}")
            body = b'{"detail": "busy"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # nothing is ever submitted, so nothing is polled
            seen.append(f"GET {self.path}")
            self.send_error(404)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [408, 500, 503])
def test_a_submit_answered_so_is_held_and_not_resubmitted_by_a_rerun(
    status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BFL's hint for each of these: the task may already exist and be charged.
    path = write_job(tmp_path / "job", model="klein-4b", items=2, concurrency=1)
    out = tmp_path / "out"
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with failing_submits(status) as (base_url, seen):
        report = run_batch(load_job(path), out, base_url=base_url)
        assert (report.generated, report.failed, report.billed) == (0, 2, 2)
        assert seen == ["POST /v1/flux-2-klein-4b"] * 2  # one submit an item, never resent
        again = run_batch(load_job(path), out, base_url=base_url)
        assert (again.held, again.generated) == (2, 0)
        assert len(seen) == 2, "a submit that may have created a task was sent again"
