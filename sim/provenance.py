"""Provenance recorded with every output: config, seed, package versions, git revision."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from sim.config import REPO_ROOT

PACKAGES = ("mesa", "numpy", "numba", "pandas", "networkx", "scipy", "hydra-core", "omegaconf", "matplotlib",
            "pyarrow", "tqdm")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages the results depend on."""
    out = {}
    for name in packages:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision(repo: Path = REPO_ROOT) -> str:
    """Commit hash of the code, with ``-dirty`` if the work tree has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(**extra: Any) -> dict[str, Any]:
    """A dict describing how and with what an output was produced (plus ``extra`` fields)."""
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "packages": package_versions(),
        **extra,
    }
