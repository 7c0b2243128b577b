"""The package map of docs/architecture.md, checked on the source: which part may import which,
no import circle between modules, no heavy library where a part promises none, and a
`careal --help` that loads no torch.

Imports are read with ``ast`` from every module of ``careal/``, the ones inside functions too
(careal imports heavy libraries lazily, so a top-level-only check would miss most of them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "careal"

#: The ground: small helpers every part may use; they know no part and no stage.
GROUND = {"careal", "careal.errors", "careal.jsonio", "careal.outputs", "careal.quiet", "careal.layout", "careal.sqlite_cache"}

#: part -> the parts it may import (besides itself). Everything outside these packages and the
#: ground (cli, pipeline, params, cycles, status, doctor, presets) is the top floor, which may
#: import any part.
ALLOWED = {
    "ground": set(),
    "data": {"ground"},
    "metrics": {"ground", "data"},
    "policy": {"ground", "data"},
    "judges": {"ground", "data", "metrics", "policy"},
    "preference": {"ground", "data", "metrics", "policy"},
    "review": {"ground", "data", "metrics"},
}

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "vllm")
#: Parts that must never import a heavy library, even inside a function.
NO_HEAVY = ("data", "metrics", "review")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module ``path`` imports (absolute names), careal's resolved to a known module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from careal.metrics import reliability` imports a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return found


def part_of(module: str) -> str:
    if module in GROUND:
        return "ground"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return "top"


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {m for m in imports_of(path, known) if m in known and m != name} for name, path in mods.items()}


def test_every_part_imports_only_the_parts_below_it():
    wrong = []
    for module, targets in graph().items():
        part = part_of(module)
        if part == "top":
            continue
        for target in targets:
            other = part_of(target)
            if other != part and other not in ALLOWED[part]:
                wrong.append(f"{module} ({part}) imports {target} ({other})")
    assert wrong == [], "imports against the map of docs/architecture.md:\n" + "\n".join(wrong)


def test_no_import_circle_between_modules():
    edges = graph()
    # Tarjan's strongly connected components: a component of two or more modules is a circle.
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert circles == [], f"import circles: {circles}"


@pytest.mark.parametrize("part", NO_HEAVY)
def test_data_and_metrics_never_import_a_model_library(part):
    mods = modules()
    heavy = []
    for name, path in mods.items():
        if part_of(name) != part:
            continue
        for target in imports_of(path, set(mods)):
            if target.split(".")[0] in HEAVY:
                heavy.append(f"{name} imports {target}")
    assert heavy == []


def test_the_checker_sees_lazy_relative_and_module_imports(tmp_path):
    """The checker itself: an import inside a function, a relative import and a
    ``from package import module`` are all found (else the tests above could not fail)."""
    pkg = tmp_path / "careal" / "metrics"
    pkg.mkdir(parents=True)
    source = pkg / "example.py"
    source.write_text("def f():\n    import torch\n    from . import scoring\n    from careal.policy import tiny\n", encoding="utf-8")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = imports_of(source, {"careal.metrics.scoring", "careal.policy.tiny"})
    finally:
        ROOT = saved
    assert {"torch", "careal.metrics.scoring", "careal.policy.tiny"} <= found
    assert part_of("careal.policy.tiny") == "policy" and "policy" not in ALLOWED["metrics"]


def test_help_imports_no_model_library():
    """`careal --help` and every subcommand's --help answer without torch, transformers, trl or peft."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from careal.cli import main\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(main, ['--help']).exit_code == 0\n"
        "for name in main.commands:\n"
        "    result = runner.invoke(main, [name, '--help'])\n"
        "    assert result.exit_code == 0, (name, result.output)\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
