"""The package's layers (docs/architecture.md) hold: subpackages depend one way, without cycles.

The contracts are in pyproject.toml ([tool.importlinter]); import-linter checks every import,
type-only imports included.
"""

import shutil
import subprocess

import pytest

from sim.config import REPO_ROOT


def test_layers_hold():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not found: install the test extras (pip install -e '.[test]')")
    run = subprocess.run([exe, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
