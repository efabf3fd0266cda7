"""Import contracts: the live side never needs torch; its core never needs Qt."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIVE_CORE = ["puppet.params", "puppet.bundle", "puppet.heads", "puppet.tracking", "puppet.engine",
             "puppet.pipeline", "puppet.recording", "puppet.cli"]


@pytest.mark.parametrize("module", LIVE_CORE)
def test_live_core_imports_without_torch_or_qt(module):
    code = (f"import sys, {module}; bad = [m for m in ('torch', 'PySide6') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, f"{module} pulled in {run.stdout.strip() or run.stderr[-500:]}"


def test_gui_imports_without_torch():
    code = "import sys, puppet.gui; sys.exit(1 if 'torch' in sys.modules else 0)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-500:]
