"""Fixtures for the client's tests. The server-backed ones need a real watchdog: the vitest file
test/clients/python-client.ci.test.ts starts one and runs this suite (`npm run test:ci` includes it)."""

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict

import pytest

# The client is one file to copy, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orch_watchdog import Client


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(
            f"{name} is not set: these tests run against a real orch-watchdog; "
            "run `npx vitest run test/clients/python-client.ci.test.ts`"
        )
    return value


@pytest.fixture(scope="session")
def url() -> str:
    return _env("ORCH_WATCHDOG_TEST_URL")


@pytest.fixture(scope="session")
def token() -> str:
    return _env("ORCH_WATCHDOG_TEST_TOKEN")


@pytest.fixture(scope="session")
def url_without_token() -> str:
    """A second watchdog started without WATCHDOG_API_TOKEN: its write routes answer 403."""
    return _env("ORCH_WATCHDOG_TEST_URL_NO_TOKEN")


@pytest.fixture(scope="session")
def requeue_delay_s() -> float:
    return float(_env("ORCH_WATCHDOG_TEST_REQUEUE_DELAY_S"))


@pytest.fixture
def client(url: str, token: str) -> Client:
    return Client(url, token, timeout_s=10, poll_s=0.2)


@pytest.fixture
def checkout() -> Callable[[Dict[str, str]], str]:
    """Makes a checkout owned by an ordinary user, as the orchestrator's are (re-tests run as cwd's owner)."""
    base = Path(_env("ORCH_WATCHDOG_TEST_CHECKOUTS"))
    owner = base.stat()
    if owner.st_uid == 0:
        raise RuntimeError(f"{base} must belong to an ordinary user: the gate refuses a root-owned cwd")

    def make(files: Dict[str, str]) -> str:
        path = Path(tempfile.mkdtemp(prefix="checkout-", dir=str(base)))
        for name, text in files.items():
            (path / name).write_text(text)
            os.chown(path / name, owner.st_uid, owner.st_gid)
        os.chown(path, owner.st_uid, owner.st_gid)
        return str(path)

    return make


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repo name of its own per test: the gate counts re-queues per (repo, branch)."""
    return "py-" + request.node.name.replace("_", "-")[:60]
