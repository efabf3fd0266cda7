"""Import contracts: the live side never needs torch nor the offline side; its core never needs Qt."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ADVENTURER, ASSETS, REPO

PUPPET = REPO / "puppet"
LIVE_CORE = ["puppet.params", "puppet.bundle", "puppet.heads", "puppet.tracking", "puppet.engine",
             "puppet.pipeline", "puppet.recording", "puppet.cli"]
# What the live view runs on, and the source images the review page reads: no Qt below these.
QT_FREE = ["puppet/tracking", "puppet/pipeline", "puppet/engine.py", "puppet/sources.py"]

# Prepended to a subprocess: importing any of BLOCKED fails there, as on a machine without it.
BLOCKER = """
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)
        return None
sys.meta_path.insert(0, _Blocked())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(f'{name} was not blocked')
"""


def _run_blocked(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    program = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO)


def _modules(*roots: str) -> list[str]:
    """Dotted names of every module in these files and package folders (``__main__`` runs the
    program, so it is left out)."""
    files = []
    for root in map(REPO.joinpath, roots):
        files += sorted(root.rglob("*.py")) if root.is_dir() else [root]
    names = [".".join(f.relative_to(REPO).with_suffix("").parts) for f in files if f.stem != "__main__"]
    return [n.removesuffix(".__init__") for n in names]


def _import_all(modules: list[str], blocked: tuple[str, ...]) -> dict[str, str]:
    """module -> error, for each module that fails to import while ``blocked`` cannot be imported."""
    code = f"""
import importlib, json
failed = {{}}
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed[name] = f'{{type(e).__name__}}: {{e}}'
print(json.dumps(failed))
"""
    run = _run_blocked(blocked, code)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", LIVE_CORE)
def test_live_core_imports_without_torch_or_qt(module):
    code = (f"import sys, {module}; bad = [m for m in ('torch', 'PySide6') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, f"{module} pulled in {run.stdout.strip() or run.stderr[-500:]}"


def test_gui_imports_without_torch():
    """Every module of the live side, the GUI included, imports where torch cannot be imported."""
    modules = _modules("puppet")
    assert "puppet.gui.create_character" in modules and "puppet.sources" in modules
    assert _import_all(modules, ("torch",)) == {}


def test_tracking_engine_and_pipeline_import_without_qt():
    modules = _modules(*QT_FREE)
    assert {"puppet.tracking.tracker", "puppet.pipeline", "puppet.engine"} <= set(modules)
    assert _import_all(modules, ("torch", "PySide6")) == {}


def test_review_of_new_character_sources_needs_no_torch():
    """The review page crops and masks real drawings where torch cannot be imported."""
    images = sorted(ADVENTURER.glob("mina_*.png"))
    code = f"""
import json
from pathlib import Path
from puppet.gui.create_character import REVIEW_SIDE, review_sources
s = review_sources([Path(p) for p in {list(map(str, images))!r}], Path({str(ASSETS / "base" / "toon.safetensors")!r}))
print(json.dumps({{"images": s.images.shape, "masks": s.masks.shape, "side": REVIEW_SIDE,
                  "from_alpha": s.mask_from_alpha, "figure": float((s.masks > 0.5).mean())}}))
"""
    run = _run_blocked(("torch",), code)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    side = got["side"]
    assert got["images"] == [len(images), 3, side, side] and got["masks"] == [len(images), 1, side, side]
    assert got["from_alpha"] == [True] * len(images)
    assert 0.1 < got["figure"] < 0.9  # a drawing on a transparent background, not all or nothing


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement anywhere in the tree (in functions
    too) and of every importlib.import_module / __import__ call with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_live_side_never_imports_the_offline_side():
    offenders = []
    files = sorted(PUPPET.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [f"{path.relative_to(REPO)}:{line}: {name}" for line, name in _imported_names(tree)
                      if name.partition(".")[0] == "export"]
    assert offenders == []


def test_the_offline_import_check_sees_imports_inside_functions():
    """The check above is only as good as its parser: a lazy import in a function counts."""
    tree = ast.parse("def f():\n    import export.cli\n    from export.sources import x\n"
                     "    importlib.import_module('export.bench')\nfrom .export import y\n")
    assert sorted(n for _, n in _imported_names(tree)) == ["export.bench", "export.cli", "export.sources"]
