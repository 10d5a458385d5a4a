"""The client against a real orch-watchdog: real re-tests (real pytest, run as the checkout's owner),
real HTTP errors, real sockets."""

import http.server
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

from orch_watchdog import (
    Action,
    AuthError,
    BadRequest,
    Client,
    Conflict,
    DeadlineExceeded,
    NotFound,
    QueueFull,
    RetestCancelled,
    RetestRun,
    ServerError,
    Unreachable,
    WatchdogError,
)

Checkout = Callable[[Dict[str, str]], str]

PYTEST = [sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
GREEN = {"test_green.py": "def test_adds():\n    assert 1 + 1 == 2\n"}
RED = {"test_red.py": "def test_adds():\n    assert 1 + 1 == 3\n"}
SLEEP = ["sleep", "60"]


def shown(err: BaseException) -> str:
    """Everything a log line or a traceback could show of an exception."""
    return str(err) + repr(err) + "".join(traceback.format_exception(type(err), err, err.__traceback__))


def wait_for_status(client: Client, run_id: str, status: str, limit_s: float = 30.0) -> RetestRun:
    end = time.monotonic() + limit_s
    while True:
        run = client.get(run_id)
        if run.status == status or time.monotonic() > end:
            assert run.status == status, f"{run_id} still {run.status} after {limit_s} s"
            return run
        time.sleep(0.1)


def test_a_passing_suite_merges(client: Client, checkout: Checkout, repo: str) -> None:
    run = client.run(repo, "feat-x", checkout(GREEN), PYTEST, timeout_s=120, deadline_s=120)
    assert (run.status, run.outcome, run.decision, run.returncode, run.attempt) == ("done", "pass", "merge", 0, 1)
    assert run.action is Action.MERGE
    assert run.raw["run_as"]["uid"] != 0


def test_a_red_suite_rolls_back(client: Client, checkout: Checkout, repo: str) -> None:
    # Paths are taken where subprocess.run takes them: the program and the cwd.
    command = [Path(sys.executable)] + PYTEST[1:]
    run = client.run(repo, "feat-x", Path(checkout(RED)), command, timeout_s=120, deadline_s=120)
    assert (run.outcome, run.returncode, run.action) == ("red", 1, Action.ROLLBACK)


def test_a_timeout_is_followed_through_requeued_as_to_the_final_decision(
    client: Client, checkout: Checkout, repo: str, requeue_delay_s: float
) -> None:
    # The first attempt leaves a mark and hangs past its budget; the gate's own re-queue passes.
    hang_once = ["sh", "-c", "if [ -e attempted ]; then exit 0; fi; touch attempted; exec sleep 60"]
    seen: List[RetestRun] = []
    run = client.run(repo, "feat-x", checkout({}), hang_once, timeout_s=5, deadline_s=90, on_update=seen.append)

    assert (run.outcome, run.action, run.attempt) == ("pass", Action.MERGE, 2)
    first = client.get(run.previous_id or "")
    assert (first.outcome, first.decision, first.requeued_as) == ("timeout", "requeue", run.id)
    assert any(r.id == first.id and r.is_done for r in seen), "the client saw the first attempt end"
    in_backoff = [r for r in seen if r.id == run.id and r.waiting == "backoff"]
    assert in_backoff and in_backoff[0].not_before, "the client saw the back-off with its not_before"
    # It sleeps until not_before instead of polling every 0.2 s through the back-off.
    assert len(in_backoff) <= 3, f"{len(in_backoff)} looks during a {requeue_delay_s} s back-off"


def test_requeues_run_out_as_exhausted_and_can_be_watched_one_attempt_at_a_time(
    client: Client, checkout: Checkout, repo: str
) -> None:
    run_id = client.submit(repo, "feat-x", checkout({}), SLEEP, timeout_s=1)
    first = client.wait(run_id, follow_requeues=False, deadline_s=60)
    assert (first.outcome, first.action) == ("timeout", Action.REQUEUE)
    assert first.requeued_as
    last = client.wait(first.requeued_as, deadline_s=60)
    assert (last.outcome, last.action, last.attempt) == ("timeout", Action.EXHAUSTED, 2)


def test_cancel_kills_a_running_retest_and_a_second_cancel_conflicts(
    client: Client, checkout: Checkout, repo: str
) -> None:
    run_id = client.submit(repo, "feat-x", checkout({}), SLEEP, timeout_s=60)
    wait_for_status(client, run_id, "running")

    cancelled = client.cancel(run_id)
    assert (cancelled.status, cancelled.outcome, cancelled.decision, cancelled.action) == ("done", "cancelled", None, None)
    with pytest.raises(Conflict) as conflict:
        client.cancel(run_id)
    assert (conflict.value.status, conflict.value.code) == (409, "already_done")
    with pytest.raises(RetestCancelled) as seen:
        client.wait(run_id)
    assert seen.value.run.id == run_id
    with pytest.raises(NotFound) as missing:
        client.get("no-such-run")
    assert (missing.value.status, missing.value.code) == (404, "not_found")


def test_the_callers_deadline_cancels_the_attempt(client: Client, checkout: Checkout, repo: str) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as late:
        client.run(repo, "feat-x", checkout({}), SLEEP, timeout_s=60, deadline_s=1.5)
    assert time.monotonic() - started < 20
    assert late.value.cancelled and late.value.run.outcome == "cancelled"
    assert client.get(late.value.run.id).outcome == "cancelled"


def test_a_bad_body_is_a_bad_request_with_the_servers_code_and_message(client: Client, repo: str, token: str) -> None:
    with pytest.raises(BadRequest) as bad:
        client.submit(repo, "feat-x", "relative/checkout", PYTEST)
    assert (bad.value.status, bad.value.code) == (400, "bad_request")
    assert "body.cwd" in bad.value.message and "body.cwd" in str(bad.value)
    assert token not in shown(bad.value)


def test_a_root_owned_checkout_is_refused_as_run_as_refused(client: Client, repo: str) -> None:
    root_owned = tempfile.mkdtemp(prefix="root-checkout-")
    try:
        assert os.stat(root_owned).st_uid == 0, "this test runs as root, like the suite"
        with pytest.raises(BadRequest) as refused:
            client.submit(repo, "feat-x", root_owned, PYTEST)
        assert (refused.value.status, refused.value.code) == (400, "run_as_refused")
        assert "WATCHDOG_MERGE_ALLOW_ROOT" in refused.value.message
    finally:
        os.rmdir(root_owned)


def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(url: str, checkout: Checkout, repo: str) -> None:
    secret = "wrong-token-a1b2c3d4"
    client = Client(url, secret)
    with pytest.raises(AuthError) as denied:
        client.submit(repo, "feat-x", checkout({}), PYTEST)
    assert (denied.value.status, denied.value.code) == (401, "unauthorized")
    assert secret not in shown(denied.value) and secret not in repr(client)


def test_a_token_read_from_a_file_works_and_a_malformed_one_is_refused_without_showing_it(
    client: Client, url: str, token: str, checkout: Checkout, repo: str
) -> None:
    run = Client(url, token + "\n", poll_s=0.2).run(repo, "feat-x", checkout(GREEN), PYTEST, timeout_s=120, deadline_s=120)
    assert run.action is Action.MERGE
    two_words = "secret-part other-part"
    with pytest.raises(ValueError) as malformed:
        Client(url, two_words)
    assert "secret-part" not in shown(malformed.value)


def test_a_watchdog_without_a_token_refuses_writes_with_403(url_without_token: str, token: str, checkout: Checkout) -> None:
    with pytest.raises(AuthError) as off:
        Client(url_without_token, token).submit("py-no-token", "feat-x", checkout({}), PYTEST)
    assert (off.value.status, off.value.code) == (403, "forbidden")
    assert "WATCHDOG_API_TOKEN" in off.value.message


def test_a_full_queue_is_queue_full_so_the_caller_can_back_off(client: Client, checkout: Checkout, repo: str) -> None:
    cwd = checkout({})
    ids: List[str] = []
    try:
        with pytest.raises(QueueFull) as full:
            for _ in range(30):
                ids.append(client.submit(repo, "feat-x", cwd, SLEEP, timeout_s=60))
        # 20 queued per repo, plus the one running when it started before the rest were posted.
        assert len(ids) in (20, 21)
        assert (full.value.status, full.value.code) == (429, "queue_full")
        assert "retry later" in full.value.message
    finally:
        for run_id in reversed(ids):  # the queued ones first: the running one last, so none starts in between
            try:
                client.cancel(run_id)
            except Conflict:
                pass


def test_a_closed_port_is_unreachable(token: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", token, timeout_s=5)
    with pytest.raises(Unreachable) as down:
        client.run("py-closed", "feat-x", "/srv/checkout", PYTEST)
    assert "refused" in down.value.reason.lower()
    assert isinstance(down.value, WatchdogError) and token not in shown(down.value)


def test_a_watchdog_that_never_answers_is_unreachable_after_the_call_timeout(token: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        client = Client("http://127.0.0.1:%d" % silent.getsockname()[1], token, timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(Unreachable) as hung:
            client.get("some-run")
    assert time.monotonic() - started < 5
    assert hung.value.reason == "no answer within 0.5 s"


@pytest.fixture
def redirecting_server() -> Iterator[Tuple[str, List[str]]]:
    """Answers every request with a 302 to itself and records the Authorization headers it got."""
    headers: List[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers.append(self.headers.get("Authorization", ""))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", headers
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_an_error_and_the_token_does_not_follow_it(
    redirecting_server: Tuple[str, List[str]], token: str
) -> None:
    url, headers = redirecting_server
    with pytest.raises(ServerError) as moved:
        Client(url, token).get("some-run")
    assert moved.value.status == 302
    assert headers == [f"Bearer {token}"], "one request, and nothing sent to the redirect's target"
