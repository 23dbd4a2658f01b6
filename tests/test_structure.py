"""The package's layers: no import circles, Streamlit only in ``scvi_viz.ui``, each layer
importing only the layers below it (see the README's *Code map*)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scvi_viz"

# Lowest first. A module may import its own layer and those before it.
LAYERS = [
    ("core", ["scvi_viz.errors", "scvi_viz.arrays", "scvi_viz.spec", "scvi_viz.covariates", "scvi_viz.point", "scvi_viz.nn"]),
    ("io", ["scvi_viz.io"]),
    ("engine", ["scvi_viz.model", "scvi_viz"]),  # the package itself exports the engine's API
    ("analysis", ["scvi_viz.analysis"]),
    ("plots", ["scvi_viz.plots"]),
    ("cli", ["scvi_viz.cli", "scvi_viz.__main__", "scvi_viz.launch", "scvi_viz.notebook"]),
    ("ui", ["scvi_viz.ui"]),
]

LAZY_EXPORTS = {"scvi_viz": {"scvi_viz.notebook"}}
"""Imports a module makes on first use of an attribute (PEP 562 ``__getattr__``), never when it
is imported: ``scvi_viz.view`` lives above the engine. ``test_lazy_exports_stay_lazy`` checks it."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every scvi_viz module ``name`` imports, anywhere in the file (TYPE_CHECKING and functions too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{name} belongs to no layer: add it to LAYERS and the README's code map"
    return best[0]


def test_every_module_is_read():
    assert {"scvi_viz.model", "scvi_viz.io.model_file", "scvi_viz.analysis.workspace", "scvi_viz.plots.export",
            "scvi_viz.ui.sidebar", "scvi_viz.ui.components.live_chart"} <= set(MODULES)
    engine = set().union(*(deps for name, deps in GRAPH.items() if name.startswith("scvi_viz.model.")))
    assert engine >= {"scvi_viz.nn", "scvi_viz.io.model_file"}


# Inside the engine, each concern imports only the ones it is built on (see scvi_viz/model/__init__.py).
ENGINE_ORDER = ["inputs", "threads", "base", "decoding", "jacobian", "browser", "encoding", "hidden", "de", "predictive", "scvi_model"]


@pytest.mark.parametrize("name", [n for n in sorted(MODULES) if n.startswith("scvi_viz.model.")])
def test_engine_modules_build_on_earlier_concerns(name):
    rank = ENGINE_ORDER.index(name.rsplit(".", 1)[1])
    later = [dep for dep in GRAPH[name] if dep.startswith("scvi_viz.model.") and ENGINE_ORDER.index(dep.rsplit(".", 1)[1]) > rank]
    assert not later, f"{name} imports concerns built on it: {later}"


MAX_FILE_LINES = 550
MAX_CLASS_LINES = 400


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_classes_stay_small(name):
    text = MODULES[name].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{name} has {len(text.splitlines())} lines: split it by concern"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            lines = node.end_lineno - node.lineno + 1
            assert lines <= MAX_CLASS_LINES, f"{name}.{node.name} has {lines} lines: split it by concern"


def test_no_import_circles():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_import_only_layers_below(name):
    upward = [dep for dep in sorted(GRAPH[name] - LAZY_EXPORTS.get(name, set())) if layer_of(dep) > layer_of(name)]
    assert not upward, f"{name} ({LAYERS[layer_of(name)][0]}) imports higher layers: {upward}"


def test_streamlit_only_in_ui():
    outside = sorted(n for n in MODULES if not (n == "scvi_viz.ui" or n.startswith("scvi_viz.ui.")))
    code = (
        "import importlib, sys\n"
        f"for name in {outside!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'streamlit' not in sys.modules, name + ' imports streamlit'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("script", sorted([*(ROOT / "pages").glob("*.py"), ROOT / "app.py"]), ids=lambda p: p.name)
def test_page_scripts_have_no_stray_strings(script):
    """Streamlit's magic writes any bare string of a page script onto the page: only the module
    docstring may be one (a constant's docstring-style comment would show up as page text)."""
    body = ast.parse(script.read_text(encoding="utf-8")).body
    stray = [node.lineno for node in body[1:]
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
    assert not stray, f"{script.name}: bare strings at lines {stray} would be written on the page"


def test_lazy_exports_stay_lazy():
    code = (
        "import sys, scvi_viz\n"
        f"lazy = {sorted(set().union(*LAZY_EXPORTS.values()))!r}\n"
        "assert not [m for m in lazy if m in sys.modules], 'imported with the package'\n"
        "import scvi_viz.notebook\n"
        "assert scvi_viz.view is scvi_viz.notebook.view and 'view' in scvi_viz.__all__\n"
        "assert 'streamlit' not in sys.modules and 'scvi' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
