"""One implementation of atomic writes, temporary files and locks: only the modules of
``dendrinet.storage`` rename files over others, make temporary files or folders, or take
file locks. Checked from the source (an ast walk): a direct call anywhere else is a second
implementation, with its own idea of permissions, links, fsync and clean-up.

A few modules owned by other work still make such calls; each is listed with what
replaces it, and the list may only shrink (a listed module that no longer makes them
fails the test until it is removed from the list)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dendrinet"
STORAGE = "storage"  # the package allowed to make these calls

#: (module, attribute) calls that write files atomically, make temporary files or
#: folders, or take file locks.
FORBIDDEN = {("os", "rename"), ("os", "renames"), ("os", "replace"), ("os", "O_EXCL"),
             ("tempfile", "mkstemp"), ("tempfile", "mkdtemp"),
             ("fcntl", "flock"), ("fcntl", "fcntl"), ("fcntl", "lockf")}

#: Modules outside this work's files that still make such calls, and what replaces them.
NOT_YET: dict[str, str] = {}


def direct_calls(path: Path) -> list[str]:
    """``line: module.name`` for each use of a FORBIDDEN name in a Python file, through
    ``import os`` (or ``import os as x``) or ``from os import replace``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {module for module, _ in FORBIDDEN}
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in modules and not node.level:
            for alias in node.names:
                if (node.module, alias.name) in FORBIDDEN:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (aliases.get(node.value.id), node.attr) in FORBIDDEN:
            found.append(f"{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return sorted(found, key=lambda text: int(text.split(":")[0]))


def offenders(package: Path) -> dict[str, list[str]]:
    """The modules of ``package`` outside its storage package that make FORBIDDEN
    calls, by path relative to ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == STORAGE or "__pycache__" in relative.parts:
            continue
        calls = direct_calls(path)
        if calls:
            out[relative.as_posix()] = calls
    return out


def test_the_walker_finds_each_kind_of_call(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os, fcntl as locks\nimport tempfile\n"
                      "from os import replace\n"
                      "os.replace('a', 'b')\nlocks.flock(3, 2)\n"
                      "tempfile.mkstemp()\nflags = os.O_RDWR | os.O_EXCL\n"
                      "'text'.replace('a', 'b')\nos.path.join('a')\n", encoding="utf-8")
    assert direct_calls(sample) == ["3: from os import replace", "4: os.replace",
                                    "5: fcntl.flock", "6: tempfile.mkstemp", "7: os.O_EXCL"]


def test_the_storage_package_holds_the_implementation():
    calls = {path.name: direct_calls(path) for path in (PACKAGE / STORAGE).glob("*.py")}
    assert any("os.replace" in c for c in calls["files.py"])
    assert any("fcntl.flock" in c for c in calls["locks.py"])
    assert any("fcntl.fcntl" in c for c in calls["locks.py"])


def test_no_module_outside_storage_writes_atomically_or_locks_by_itself():
    found = {path: calls for path, calls in offenders(PACKAGE).items() if path not in NOT_YET}
    assert found == {}, ("use dendrinet.storage.files / dendrinet.storage.locks instead of "
                         f"these direct calls: {found}")


@pytest.mark.parametrize("module", sorted(NOT_YET))
def test_the_list_of_modules_not_yet_moved_only_shrinks(module):
    path = PACKAGE / module
    if not path.is_file() or not direct_calls(path):
        pytest.fail(f"{module} no longer makes direct calls (or is gone): remove it from "
                    "NOT_YET")
