"""The import contract of DESIGN.md, enforced: who may import whom, and which third parties.

Read from the source with ``ast`` (no import side effects), so a violation names the file and
line. Imports under ``TYPE_CHECKING`` count too: a type-only dependency is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rampgate"

# layer -> (rampgate layers it may import, third-party top-level modules it may import)
CONTRACT: dict[str, tuple[set[str], set[str]]] = {
    "_version": (set(), set()),
    "errors": (set(), set()),
    "domain": ({"errors"}, {"fnv_hash_fast"}),
    "stats": (set(), {"numpy", "scipy"}),
    "config": ({"domain", "errors"}, {"yaml", "jsonschema"}),
    "control": ({"domain", "stats", "errors"}, set()),
    "compat": ({"domain", "errors"}, set()),
    "guard": ({"domain", "errors"}, set()),
    "evals": ({"domain", "stats", "errors"}, {"numpy", "scipy"}),
    "sdk": ({"domain", "guard", "config", "errors"}, {"httpx", "orjson"}),
    "store": ({"domain", "config", "errors"}, {"sqlalchemy", "alembic", "psycopg", "redis"}),
    "testing": ({"domain", "sdk", "errors"}, set()),
    "server": (
        {
            "domain",
            "stats",
            "control",
            "config",
            "store",
            "guard",
            "evals",
            "sdk",
            "errors",
            "_version",
        },
        {
            "fastapi",
            "starlette",
            "uvicorn",
            "pydantic",
            "sqlalchemy",
            "alembic",
            "httpx",
            "numpy",
            "psycopg",
            "orjson",
            "pydantic_core",
        },
    ),
    "cli": (
        {
            "domain",
            "stats",
            "control",
            "config",
            "store",
            "guard",
            "evals",
            "sdk",
            "server",
            "compat",
            "errors",
            "_version",
            "testing",
            "demo",
        },
        {"typer", "rich", "click", "uvicorn", "httpx", "yaml", "numpy", "sqlalchemy"},
    ),
    # The demo wires everything like the server does, and runs the server; only cli imports it.
    "demo": (
        {"__init__", "domain", "config", "control", "store", "sdk", "server", "testing", "errors"},
        {"httpx", "numpy"},
    ),
    "__init__": ({"_version", "config", "domain", "errors", "sdk"}, set()),
}


def _layer(path: Path, root: Path = SRC) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, absolute dotted module) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # The package a relative import starts from: the module's own for both a plain module and
    # an __init__ (whose module path ends in "__init__").
    package = ["rampgate", *path.relative_to(root).with_suffix("").parts][:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.append((node.lineno, module))
    return out


FILES = sorted(SRC.rglob("*.py"))


def _problems(path: Path, root: Path = SRC) -> list[str]:
    layer = _layer(path, root)
    if layer not in CONTRACT:
        return [f"layer {layer!r} is not in the import contract"]
    allowed_layers, allowed_third = CONTRACT[layer]
    problems = []
    for line, module in _imports(path, root):
        top = module.split(".")[0]
        if top == "rampgate":
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            if target != layer and target not in allowed_layers:
                problems.append(f"line {line}: {layer} may not import rampgate.{target}")
        elif top in sys.stdlib_module_names or top == "__future__":
            continue
        elif top not in allowed_third:
            problems.append(f"line {line}: {layer} may not import third-party {top!r}")
    return problems


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SRC)) for p in FILES])
def test_module_respects_layer_contract(path: Path) -> None:
    problems = _problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


def test_nothing_imports_cli() -> None:
    offenders = [
        f"{p.relative_to(SRC)}:{line}"
        for p in FILES
        if _layer(p) != "cli"
        for line, module in _imports(p)
        if module == "rampgate.cli" or module.startswith("rampgate.cli.")
    ]
    assert not offenders


def test_checker_catches_violations(tmp_path: Path) -> None:
    """The checker itself must be able to fail: a domain module importing the store and numpy."""
    bad = tmp_path / "domain" / "probe.py"
    bad.parent.mkdir()
    bad.write_text(
        "from rampgate.store import x\nfrom ..sdk import y\nimport numpy\n", encoding="utf-8"
    )
    assert _problems(bad, tmp_path) == [
        "line 1: domain may not import rampgate.store",
        "line 2: domain may not import rampgate.sdk",
        "line 3: domain may not import third-party 'numpy'",
    ]
