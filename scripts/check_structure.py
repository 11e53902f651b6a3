"""The structure rules `lint-imports` cannot check (make lint runs both).

* No module imports a ``_private`` name from another module: what modules share gets a
  public name (a private *module* such as ``ids/_arrow.py`` is fine: it is a named
  internal API whose docstring says who uses it).
* No module is much longer than 500 lines.
* No ``# type: ignore`` anywhere in the package (mypy checks it in ``make lint``).

``--graph`` prints the package's modules with their line counts and what each imports
(every import: at module level, in functions and under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "moecohort"
MAX_LINES = 520  # "about 500"
IGNORE = "type: " + "ignore"  # spelled in two parts so this file does not match itself


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    return {name: path for name, path in found.items() if "__pycache__" not in str(path)}


def resolve(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for every import of the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(name, path, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:  # "from . import _html" imports a module
                    found.append((sub, None, node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return [f for f in found if f[0] == "moecohort" or f[0].startswith("moecohort.")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print modules and imports")
    args = parser.parse_args()
    known = modules()
    problems = []
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
        for number, line in enumerate(text.splitlines(), 1):
            if IGNORE in line:
                problems.append(f"{path.relative_to(ROOT)}:{number}: a '# {IGNORE}' comment")
        targets = set()
        for target, taken, line in imports(name, path, known):
            targets.add(target)
            if taken and taken.startswith("_") and not taken.startswith("__") and target != name:
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: imports the private name {taken!r} "
                    f"from {target}"
                )
        graph[name] = targets - {name}
    if args.graph:
        for name in sorted(graph):
            lines = known[name].read_text(encoding="utf-8").count("\n")
            uses = ", ".join(sorted(t.removeprefix("moecohort.") for t in graph[name]))
            print(f"{name:<40} {lines:>4}  -> {uses or '-'}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
