"""Parameter uncertainty in runs: draw each replicate's parameters from a posterior sample.

A posterior sample is a CSV as ``sim-calibrate`` writes it: one column per
dotted parameter of ``scenarios/config.yaml`` and a ``weight`` column
(importance weights; any non-negative numbers, normalized here). With
``run.posterior=FILE`` (``sim-run``) or ``posterior: FILE`` (an experiment of
``sim-sweep``) each replicate draws one row, with probability proportional to
its weight, and runs with those parameter values; summaries and bands then
combine parameter uncertainty with seed variation.

The draw of a replicate comes from its own ``numpy.random.SeedSequence``
stream (base seed, a fixed stream tag, the run's key and the replicate), so it
depends neither on the number of workers nor on the order in which runs finish,
and the model's own random numbers are unchanged by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.config import (
    REPO_ROOT,
    ConfigError,
    _check_value,
    override_keys,
    parameter_specs,
    preset_parameters,
    scenario_presets,
)

#: Stream tag of the posterior draws in the SeedSequence spawn key (keeps them apart from model seeds).
POSTERIOR_STREAM = 0x9057
#: Parameters a posterior may not set: sim-run and sweeps set them.
_NOT_DRAWN = ("seed", "steps", "district.schools", "district.teachers_per_school")


@dataclass(frozen=True)
class Posterior:
    """A validated posterior sample.

    Attributes
    ----------
    path : Path
        The CSV it was read from.
    names : tuple of str
        Dotted parameter paths, in column order.
    values : ndarray of shape (n_draws, n_parameters)
    weights : ndarray of shape (n_draws,)
        Normalized to sum to 1.
    digest : str
        SHA-256 of the file's bytes (16 hex digits), recorded with every output.
    """

    path: Path
    names: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    digest: str

    @property
    def effective_size(self) -> float:
        """Kish's effective sample size of the weights, 1 / sum(w**2)."""
        return float(1.0 / np.sum(self.weights ** 2))

    def draw_index(self, base_seed: int, replicate: int, key: int | None = None) -> int:
        """Row drawn for a replicate (and run ``key``), weight-proportional and reproducible."""
        ss = np.random.SeedSequence(int(base_seed), spawn_key=(POSTERIOR_STREAM, int(key or 0), int(replicate)))
        return int(np.random.default_rng(ss).choice(len(self.weights), p=self.weights))

    def row(self, index: int) -> tuple[tuple[str, Any], ...]:
        """Parameter values of one row as ``(path, value)`` pairs (integers for integer parameters)."""
        specs = parameter_specs()
        out = []
        for name, value in zip(self.names, self.values[index]):
            default = specs[name].default
            integer = isinstance(default, int) and not isinstance(default, bool)
            out.append((name, int(round(value)) if integer else float(value)))
        return tuple(out)

    def only(self, names: Iterable[str]) -> Posterior:
        """The same draws with only the columns ``names`` (the others then keep their configured values)."""
        names = list(names)
        missing = [n for n in names if n not in self.names]
        if missing:
            raise ConfigError(f"Posterior sample {self.path} has no column {', '.join(missing)}.")
        idx = [self.names.index(n) for n in names]
        return Posterior(self.path, tuple(names), self.values[:, idx], self.weights, self.digest)

    def describe(self) -> str:
        """One line for outputs: which posterior, how many draws, what it sets."""
        try:
            shown = self.path.resolve().relative_to(REPO_ROOT)
        except ValueError:
            shown = self.path
        return (f"parameters drawn from the posterior sample {shown} ({len(self.weights)} rows, effective size "
                f"{self.effective_size:.0f}; {len(self.names)} parameters: {', '.join(self.names)})")

    def provenance(self) -> dict[str, Any]:
        """What outputs record about the posterior."""
        return {"path": str(self.path), "sha256_16": self.digest, "rows": len(self.weights),
                "effective_size": round(self.effective_size, 1), "parameters": list(self.names)}


def fixed_parameters(labels: Iterable[str], overrides: Iterable[str] = ()) -> dict[str, str]:
    """Each parameter a run fixes, with what fixes it: an override, or a scenario preset of ``labels``."""
    overrides = [str(ov) for ov in overrides]
    fixed = {name: f"the scenario preset '{preset}'" for label in labels for preset in scenario_presets(label)
             for name in preset_parameters(names=[preset])}
    fixed.update({key: f"overrides ('{ov}')" for ov, key in zip(overrides, override_keys(overrides))})
    return fixed


def refuse_fixed(posterior: Posterior, fixed: Mapping[str, str]) -> None:
    """Refuse a posterior that draws a parameter the run also fixes (``fixed``: :func:`fixed_parameters`).

    A parameter is either drawn or set, never both: a draw would silently undo an explicit setting (an
    override, or the lever a scenario preset pulls).
    """
    clash = fixed_clash(posterior.names, fixed, "drawn from the posterior")
    if clash:
        raise ConfigError(f"Posterior sample {posterior.path}: {clash}; keep one (drop the column from the sample, "
                          "or the setting).")


def fixed_clash(drawn: Iterable[str], fixed: Mapping[str, str], how: str) -> str:
    """The parameters of ``drawn`` that a run also fixes, as a sentence (``how`` says how they are drawn), or
    ``""`` if none is (``fixed``: :func:`fixed_parameters`)."""
    clash = sorted(set(drawn) & set(fixed))
    return f"{', '.join(clash)} {'is' if len(clash) == 1 else 'are'} {how} and also fixed in {fixed[clash[0]]}" \
        if clash else ""


def load_posterior(path: str | Path) -> Posterior:
    """Read and validate a posterior sample CSV; raise ConfigError naming the file, row and column.

    Raises
    ------
    ConfigError
        Missing file; no ``weight`` column or no parameter column; an unknown
        or reserved parameter; a value that is not a number or outside the
        parameter's documented range; a negative or non-finite weight, or
        weights that sum to zero.
    """
    path = Path(path).expanduser()
    where = f"Posterior sample {path}"
    if not path.is_file():
        raise ConfigError(f"{where} does not exist: give a CSV written by sim-calibrate (one column per "
                          "dotted parameter, plus 'weight').")
    raw = path.read_bytes()
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not a readable CSV ({type(exc).__name__}).") from None
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    if "weight" not in columns:
        raise ConfigError(f"{where} has no 'weight' column; columns are: {', '.join(columns) or 'none'}.")
    specs = parameter_specs()
    names = [c for c in columns if c != "weight"]
    if not names:
        raise ConfigError(f"{where} has no parameter column besides 'weight'.")
    for name in names:
        if name not in specs:
            import difflib

            hint = difflib.get_close_matches(name, list(specs), n=1)
            raise ConfigError(f"{where}: column '{name}' is not a parameter of scenarios/config.yaml."
                              + (f" Did you mean '{hint[0]}'?" if hint else ""))
        spec = specs[name]
        if name in _NOT_DRAWN or name.startswith("run.") or spec.range is None or spec.choices is not None \
                or isinstance(spec.default, list):
            raise ConfigError(f"{where}: column '{name}' cannot be drawn from a posterior: allowed are numeric "
                              "model parameters (not seed, steps, district size, run.* or lists).")
    if frame.empty:
        raise ConfigError(f"{where} has a header but no rows.")
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float))
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise ConfigError(f"{where}, row {r + 2}, column '{columns[c]}': {frame.iat[r, c][:40]!r} is not a "
                          "finite number.")
    weights = numbers["weight"].to_numpy(dtype=float)
    if (weights < 0).any():
        r = int(np.flatnonzero(weights < 0)[0])
        raise ConfigError(f"{where}, row {r + 2}, column 'weight': weights must be >= 0.")
    if weights.sum() <= 0:
        raise ConfigError(f"{where}: the weights sum to zero; at least one row needs a positive weight.")
    values = numbers[names].to_numpy(dtype=float)
    for j, name in enumerate(names):
        for r, v in enumerate(values[:, j]):
            try:
                _check_value(specs[name], int(round(v)) if isinstance(specs[name].default, int) else float(v))
            except ConfigError as exc:
                raise ConfigError(f"{where}, row {r + 2}, column '{name}': {exc}") from None
    return Posterior(path, tuple(names), values, weights / weights.sum(), hashlib.sha256(raw).hexdigest()[:16])
