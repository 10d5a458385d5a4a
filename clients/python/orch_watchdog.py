"""The orchestrator's side of orch-watchdog's merge gate.

Standard library only, Python >= 3.9. Copy this one file next to the orchestrator.

    from orch_watchdog import Action, Client, WatchdogError

    gate = Client("http://127.0.0.1:8787", token)
    run = gate.run(repo="api", branch="feat-x", cwd="/srv/checkouts/api",
                   command=["/usr/bin/python3", "-m", "pytest", "-q"], timeout_s=600)
    if run.action is Action.MERGE:
        ...

`run()` submits a re-test and waits for its final decision, following the gate's own
re-queues (`requeued_as`). Every failure raises a subclass of `WatchdogError`; none of them
means the code is bad, so none of them should roll a branch back. See docs/adopting.md.
"""

import enum
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, TypedDict, Union

__all__ = [
    "Action",
    "ApiError",
    "AuthError",
    "BadRequest",
    "Client",
    "Conflict",
    "DeadlineExceeded",
    "NotFound",
    "QueueFull",
    "RetestCancelled",
    "RetestRequest",
    "RetestRun",
    "ServerError",
    "Unreachable",
    "WatchdogError",
]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_POLL_S = 2.0
# not_before comes from the watchdog's clock: a skewed client still looks again within a minute.
MAX_BACKOFF_SLEEP_S = 60.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024

# What subprocess.run takes for an argument or a cwd.
StrPath = Union[str, "os.PathLike[str]"]


class Action(str, enum.Enum):
    """What `retest_branch` does with the branch: the gate's `decision`, one value each."""

    MERGE = "merge"
    """The suite passed, or HEAD is the validated commit: merge."""
    ROLLBACK = "rollback"
    """The code failed (red suite, a crash): roll the branch back."""
    REQUEUE = "requeue"
    """The gate re-queued the run itself (`requeued_as`). Only seen with `follow_requeues=False`:
    keep the branch and wait for the next attempt."""
    EXHAUSTED = "exhausted"
    """Infra re-queues ran out (timeouts, lock contention, OOM); the gate raised one alert.
    Not the code's fault: keep the branch, park it for a human."""
    REPOST = "repost"
    """The watchdog stopped while the run ran and did not keep it: post the same request again."""


class _RetestRequestRequired(TypedDict):
    repo: str
    branch: str
    cwd: str
    command: List[str]


class RetestRequest(_RetestRequestRequired, total=False):
    """The body of POST /merge-gate/retests."""

    timeout_s: float
    validated_sha: str


@dataclass(frozen=True)
class RetestRun:
    """One re-test attempt, as GET /merge-gate/retests/:id answers it (`raw` keeps every field)."""

    id: str
    repo: str
    branch: str
    status: str
    """queued, running or done."""
    attempt: int
    outcome: Optional[str] = None
    """pass, red, timeout, lock_busy, infra, other, skipped or cancelled."""
    decision: Optional[str] = None
    returncode: Optional[int] = None
    signal: Optional[str] = None
    duration_s: Optional[float] = None
    queued_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    requeued_as: Optional[str] = None
    previous_id: Optional[str] = None
    waiting: Optional[str] = None
    """Why a queued run has not started: backoff or cpu_pressure."""
    not_before: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, body: Any) -> "RetestRun":
        """Reads the watchdog's JSON answer; unknown fields stay in `raw`."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
            raise ServerError(200, "bad_response", "the answer is not a RetestRun (no id or status)")
        return cls(
            id=body["id"],
            repo=str(body.get("repo", "")),
            branch=str(body.get("branch", "")),
            status=body["status"],
            attempt=int(body.get("attempt", 1)),
            outcome=body.get("outcome"),
            decision=body.get("decision"),
            returncode=body.get("returncode"),
            signal=body.get("signal"),
            duration_s=body.get("duration_s"),
            queued_at=body.get("queued_at"),
            started_at=body.get("started_at"),
            finished_at=body.get("finished_at"),
            requeued_as=body.get("requeued_as"),
            previous_id=body.get("previous_id"),
            waiting=body.get("waiting"),
            not_before=body.get("not_before"),
            raw=body,
        )

    @property
    def is_done(self) -> bool:
        return self.status == "done"

    @property
    def action(self) -> Optional[Action]:
        """The decision as an `Action`; None while not done, when cancelled, or for an unknown decision."""
        if self.decision is None:
            return None
        try:
            return Action(self.decision)
        except ValueError:
            return None

    @property
    def not_before_epoch_s(self) -> Optional[float]:
        """`not_before` as a Unix time, or None."""
        return _epoch_s(self.not_before)


def _epoch_s(iso: Optional[str]) -> Optional[float]:
    if not iso:
        return None
    # fromisoformat takes a trailing "Z" only from Python 3.11 on.
    text = iso[:-1] + "+00:00" if iso.endswith("Z") else iso
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class WatchdogError(Exception):
    """Base of every error this client raises. None of them says the code under test is bad."""


class Unreachable(WatchdogError):
    """No answer: connection refused, DNS, reset, or no answer within the call's timeout."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"orch-watchdog at {url} is unreachable: {reason}")
        self.url = url
        self.reason = reason


class ApiError(WatchdogError):
    """The watchdog answered with an error: `status`, its `code` (`error`) and `message`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BadRequest(ApiError):
    """400: the body is invalid (`bad_request`), or the run's account is refused (`run_as_refused`)."""


class AuthError(ApiError):
    """401: missing or wrong token; 403: the watchdog has no WATCHDOG_API_TOKEN (writes are off)."""


class NotFound(ApiError):
    """404: unknown id (or forgotten: a restart without a state file, or older than the kept history)."""


class Conflict(ApiError):
    """409: the run already finished (cancel)."""


class QueueFull(ApiError):
    """429: the bounded queue is full (per repo or overall). Back off and submit again later."""


class ServerError(ApiError):
    """5xx, a redirect, or an answer that is not the watchdog's JSON."""


class RetestCancelled(WatchdogError):
    """The run being waited for was cancelled (DELETE) by someone else; `run` holds it."""

    def __init__(self, run: RetestRun) -> None:
        super().__init__(f"re-test {run.id} of {run.repo}@{run.branch} was cancelled")
        self.run = run


class DeadlineExceeded(WatchdogError):
    """The caller's deadline passed first. `run` is the last attempt seen; `cancelled` says whether it was cancelled."""

    def __init__(self, run: RetestRun, cancelled: bool) -> None:
        what = "cancelled" if cancelled else "left running"
        super().__init__(
            f"no decision for {run.repo}@{run.branch} before the deadline; attempt {run.attempt} ({run.id}) {what}"
        )
        self.run = run
        self.cancelled = cancelled


_ERRORS_BY_STATUS = {400: BadRequest, 401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict, 429: QueueFull}


def _api_error(status: int, raw: bytes) -> ApiError:
    code, message = f"http_{status}", raw[:200].decode("utf-8", "replace").strip()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str):
        code, message = body["error"], body["message"]
    cls = _ERRORS_BY_STATUS.get(status, ServerError if status >= 500 or status < 400 else ApiError)
    return cls(status, code, message)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The watchdog never redirects: a redirect is an error, and the token never follows it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """The merge gate of one watchdog. `token` is WATCHDOG_API_TOKEN: sent as a bearer header, never shown."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be http(s)://host:port, not {base_url!r}")
        if timeout_s <= 0 or poll_s <= 0:
            raise ValueError("timeout_s and poll_s must be greater than 0")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._token = (token or "").strip()  # a token read from a file keeps its newline
        # http.client would refuse the header with a ValueError that quotes the value: the token.
        if any(ch.isspace() or not ch.isprintable() for ch in self._token):
            raise ValueError("token must be one word without spaces or control characters (WATCHDOG_API_TOKEN)")
        # Direct connections only: an http_proxy from the environment would see the token.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def submit(
        self,
        repo: str,
        branch: str,
        cwd: StrPath,
        command: Sequence[StrPath],
        *,
        timeout_s: Optional[float] = None,
        validated_sha: Optional[str] = None,
    ) -> str:
        """Queues a re-test and returns its id. Not retried: a retry could queue it twice."""
        if isinstance(command, str):
            raise TypeError("command is an argv list, e.g. ['python3', '-m', 'pytest'], not a shell string")
        argv = [os.fspath(arg) for arg in command]
        body: RetestRequest = {"repo": repo, "branch": branch, "cwd": os.fspath(cwd), "command": argv}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        if validated_sha is not None:
            body["validated_sha"] = validated_sha
        answer = self._request("POST", "/merge-gate/retests", body)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise ServerError(202, "bad_response", "the answer to POST /merge-gate/retests has no id")
        return answer["id"]

    def get(self, run_id: str) -> RetestRun:
        """One attempt as it is now."""
        return RetestRun.from_wire(self._request("GET", self._run_path(run_id)))

    def cancel(self, run_id: str) -> RetestRun:
        """Drops a queued run or kills a running one (whole tree). Conflict (409) once it finished."""
        return RetestRun.from_wire(self._request("DELETE", self._run_path(run_id)))

    def run(
        self,
        repo: str,
        branch: str,
        cwd: StrPath,
        command: Sequence[StrPath],
        *,
        timeout_s: Optional[float] = None,
        validated_sha: Optional[str] = None,
        deadline_s: Optional[float] = None,
        on_update: Optional[Callable[[RetestRun], None]] = None,
    ) -> RetestRun:
        """Submits, then `wait`s for the final decision. `timeout_s` is the gate's budget per attempt;
        `deadline_s` is the caller's for the whole chain of attempts, queueing and back-offs included."""
        started = time.monotonic()
        run_id = self.submit(repo, branch, cwd, command, timeout_s=timeout_s, validated_sha=validated_sha)
        remaining_s = None if deadline_s is None else max(0.0, deadline_s - (time.monotonic() - started))
        return self.wait(run_id, deadline_s=remaining_s, on_update=on_update)

    def wait(
        self,
        run_id: str,
        *,
        deadline_s: Optional[float] = None,
        follow_requeues: bool = True,
        cancel_on_deadline: bool = True,
        on_update: Optional[Callable[[RetestRun], None]] = None,
    ) -> RetestRun:
        """Polls until a decision, following `requeued_as`; returns the last attempt.

        Sleeps out a back-off until `not_before` (at most a minute between looks), else polls every
        `poll_s`. `on_update` sees every answer. Raises RetestCancelled when someone cancels the run,
        and DeadlineExceeded after `deadline_s` (cancelling the current attempt unless told not to);
        the deadline may be overshot by one call's `timeout_s`.
        """
        end = None if deadline_s is None else time.monotonic() + deadline_s
        current = run_id
        while True:
            run = self.get(current)
            if on_update is not None:
                on_update(run)
            if run.is_done:
                if follow_requeues and run.decision == Action.REQUEUE.value and run.requeued_as:
                    current = run.requeued_as
                    continue
                if run.decision is None:
                    raise RetestCancelled(run)
                return run
            if end is not None and time.monotonic() >= end:
                if not cancel_on_deadline:
                    raise DeadlineExceeded(run, cancelled=False)
                try:
                    cancelled = self.cancel(run.id)
                except Conflict:
                    continue  # it finished meanwhile: the next look reads its decision
                raise DeadlineExceeded(cancelled, cancelled=True)
            delay_s = self._poll_delay_s(run)
            if end is not None:
                delay_s = min(delay_s, max(0.0, end - time.monotonic()))
            time.sleep(delay_s)

    def _poll_delay_s(self, run: RetestRun) -> float:
        until = run.not_before_epoch_s if run.waiting == "backoff" else None
        if until is None:
            return self.poll_s
        return max(self.poll_s, min(until - time.time(), MAX_BACKOFF_SLEEP_S))

    @staticmethod
    def _run_path(run_id: str) -> str:
        if not run_id:
            raise ValueError("run_id must be a non-empty string")
        return "/merge-gate/retests/" + urllib.parse.quote(run_id, safe="")

    def _request(self, method: str, path: str, body: Optional[RetestRequest] = None) -> Any:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._token:
            req.add_unredirected_header("Authorization", "Bearer " + self._token)
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                status, raw = resp.status, resp.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as err:
            raw = _read_quietly(err)
            raise _api_error(err.code, raw) from None
        except urllib.error.URLError as err:
            raise Unreachable(self.base_url, _reason(err.reason, self.timeout_s)) from None
        except (OSError, http.client.HTTPException) as err:
            raise Unreachable(self.base_url, _reason(err, self.timeout_s)) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise ServerError(status, "bad_response", f"the answer to {method} {path} exceeds {MAX_ANSWER_BYTES} bytes")
        try:
            return json.loads(raw)
        except ValueError:
            what = f"the answer to {method} {path} is not JSON: is {self.base_url} orch-watchdog?"
            raise ServerError(status, "bad_response", what) from None


def _read_quietly(err: urllib.error.HTTPError) -> bytes:
    try:
        return err.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        err.close()


def _reason(reason: Any, timeout_s: float) -> str:
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout_s:g} s"
    return str(reason) or type(reason).__name__
