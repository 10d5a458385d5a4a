"""The client must run on Python 3.9 although this suite runs on a newer one: newer syntax and
newer standard-library names fail here."""

import ast
import sys
from pathlib import Path
from typing import List

SOURCE = Path(__file__).resolve().parent.parent / "orch_watchdog.py"

# Names Python 3.9 does not have (typing, dataclasses, zip, datetime, enum, tomllib).
NEWER_TYPING = {
    "Concatenate", "LiteralString", "Never", "NotRequired", "ParamSpec", "Required", "Self", "TypeAlias",
    "TypeGuard", "TypeVarTuple", "Unpack", "assert_never", "assert_type", "dataclass_transform", "override",
    "reveal_type",
}
NEWER_KEYWORDS = {"dataclass": {"slots", "kw_only", "match_args"}, "field": {"kw_only"}, "zip": {"strict"}}
NEWER_ATTRIBUTES = {"UTC", "StrEnum", "TaskGroup", "aiter", "anext"}
NEWER_MODULES = {"tomllib"}


def _has_union_operator(node: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(node))


def _annotations(tree: ast.AST) -> List[ast.AST]:
    found: List[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
            found.extend(a.annotation for a in every if a.annotation is not None)
            if node.returns is not None:
                found.append(node.returns)
    return found


def newer_than_3_9(source: str) -> List[str]:
    """What in `source` a Python 3.9 interpreter rejects; raises SyntaxError for newer syntax (match, except*)."""
    tree = ast.parse(source, feature_version=(3, 9))
    compile(tree, "<client>", "exec")
    problems = [f"line {a.lineno}: X | Y in an annotation" for a in _annotations(tree) if _has_union_operator(a)]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "typing":
            problems += [f"line {node.lineno}: typing.{a.name}" for a in node.names if a.name in NEWER_TYPING]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            problems += [f"line {node.lineno}: import {m}" for m in modules if m.split(".")[0] in NEWER_MODULES]
            problems += [
                f"line {node.lineno}: {m} is not in the standard library"
                for m in modules
                if m and m.split(".")[0] not in sys.stdlib_module_names
            ]
        if isinstance(node, ast.Attribute) and node.attr in NEWER_ATTRIBUTES:
            problems.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            newer = NEWER_KEYWORDS.get(name, set())
            problems += [f"line {node.lineno}: {name}({k.arg}=)" for k in node.keywords if k.arg in newer]
    return problems


def test_the_client_parses_compiles_and_uses_nothing_newer_than_python_3_9():
    assert newer_than_3_9(SOURCE.read_text()) == []


def test_the_check_catches_what_python_3_9_rejects():
    assert newer_than_3_9("def f(x: int | None) -> str | None: ...\n") == [
        "line 1: X | Y in an annotation",
        "line 1: X | Y in an annotation",
    ]
    assert newer_than_3_9("from typing import Self\nimport requests\n") == [
        "line 1: typing.Self",
        "line 2: requests is not in the standard library",
    ]
    assert newer_than_3_9("from dataclasses import dataclass\n@dataclass(slots=True)\nclass A: ...\n") == [
        "line 2: dataclass(slots=)"
    ]
    assert newer_than_3_9("import datetime\nnow = datetime.datetime.now(datetime.UTC)\n") == ["line 2: .UTC"]
    try:
        newer_than_3_9("match x:\n    case 1:\n        pass\n")
    except SyntaxError:
        pass
    else:
        raise AssertionError("a match statement parsed as Python 3.9")
