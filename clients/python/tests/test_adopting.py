"""docs/adopting.md shows the change an orchestrator makes as a diff against a subprocess-based
retest_branch: the diff must apply to the code shown, and the result must work against a real watchdog."""

import re
import socket
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

ADOPTING = Path(__file__).resolve().parents[3] / "docs" / "adopting.md"
GREEN = {"test_green.py": "def test_adds():\n    assert 1 + 1 == 2\n"}
RED = {"test_red.py": "def test_adds():\n    assert 1 + 1 == 3\n"}


def _first_block(language: str) -> str:
    found = re.search(r"^```" + language + r"\n(.*?)^```$", ADOPTING.read_text(), re.S | re.M)
    assert found, f"docs/adopting.md has no ```{language} block"
    return found.group(1)


def _sides(diff: str) -> Tuple[str, str]:
    """The file before and after a one-hunk unified diff that spans the whole file."""
    lines = diff.splitlines()
    assert lines[0].startswith("--- ") and lines[1].startswith("+++ ") and lines[2].startswith("@@ -1,")
    before: List[str] = []
    after: List[str] = []
    for line in lines[3:]:
        mark, text = line[:1], line[1:]
        assert mark in (" ", "-", "+"), f"not a diff line: {line!r}"
        if mark != "+":
            before.append(text)
        if mark != "-":
            after.append(text)
    return "\n".join(before) + "\n", "\n".join(after) + "\n"


def test_the_diff_applies_to_the_code_shown_before_it() -> None:
    before, after = _sides(_first_block("diff"))
    assert before == _first_block("python")
    compile(after, "adopting.md", "exec")


@pytest.fixture
def retest_branch(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., List[Tuple[str, ...]]]:
    """The adopted retest_branch from the doc, with the orchestrator's merge/rollback/requeue/park recorded."""

    def call(repo: str, branch: str, checkout: str, watchdog_url: str = url) -> List[Tuple[str, ...]]:
        monkeypatch.setenv("WATCHDOG_URL", watchdog_url)
        monkeypatch.setenv("WATCHDOG_API_TOKEN", token)
        done: List[Tuple[str, ...]] = []
        namespace: Dict[str, object] = {
            "merge": lambda b: done.append(("merge", b)),
            "rollback": lambda b, why: done.append(("rollback", b, why)),
            "requeue": lambda b, why: done.append(("requeue", b, why)),
            "park": lambda b, why: done.append(("park", b, why)),
        }
        exec(compile(_sides(_first_block("diff"))[1], "adopting.md", "exec"), namespace)
        namespace["retest_branch"](repo, branch, checkout)  # type: ignore[operator]
        return done

    return call


def test_the_adopted_retest_branch_merges_a_green_branch_and_rolls_back_a_red_one(
    retest_branch: Callable[..., List[Tuple[str, ...]]], checkout: Callable[[Dict[str, str]], str], repo: str
) -> None:
    assert retest_branch(repo, "green", checkout(GREEN)) == [("merge", "green")]
    assert retest_branch(repo, "red", checkout(RED)) == [("rollback", "red", "re-test red (exit 1)")]


def test_the_adopted_retest_branch_requeues_when_the_watchdog_is_down(
    retest_branch: Callable[..., List[Tuple[str, ...]]], checkout: Callable[[Dict[str, str]], str], repo: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = retest_branch(repo, "feat-x", checkout(GREEN), watchdog_url=closed)
    assert [d[:2] for d in done] == [("requeue", "feat-x")] and "unreachable" in done[0][2]
