"""One command-line grammar for every tool: ``key=value`` for model settings and tool settings.

A key that names a model parameter (``district.schools``, ``policy.goal_clarity``,
``steps``, ``seed``: every path in ``scenarios/config.yaml``) is a model setting; a
key the tool knows (``workers``, ``out``, ``replicates`` ...) is a tool setting;
anything else is refused with "did you mean" (:mod:`difflib`) and exit status 2.
``-h``/``--help`` prints the tool's hand-written usage. The tools call
:func:`parse` (and :func:`show_help`) rather than parsing arguments themselves.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sim.config import COMBINE, ConfigError, available_scenarios, parameter_specs

HELP_FLAGS = ("-h", "--help", "help")
#: Where every model parameter is listed with its meaning, range and source.
PARAMETER_DOC = "docs/parameters.md (and scenarios/config.yaml)"


@dataclass(frozen=True)
class Args:
    """A command line split into model settings (as overrides) and tool settings."""

    model: list[str] = field(default_factory=list)
    tool: dict[str, str] = field(default_factory=dict)

    def flag(self, key: str, default: bool = False) -> bool:
        """The tool setting ``key`` as a yes/no (:func:`yes_no`)."""
        return yes_no(key, self.tool.get(key, str(default).lower()))


def yes_no(key: str, value: str) -> bool:
    """A yes/no setting ``key=value``: ``true`` or ``false`` (any case); ConfigError for anything else."""
    if value.lower() not in ("true", "false"):
        raise ConfigError(f"argument {key}={value!r} must be true or false.")
    return value.lower() == "true"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices`` (empty when none is close)."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def is_model_key(key: str) -> bool:
    """Whether ``key`` names a model parameter (a path in scenarios/config.yaml)."""
    return key in parameter_specs()


def wants_help(args: Sequence[str]) -> bool:
    """Whether the command line asks for the usage text."""
    return any(a in HELP_FLAGS for a in args)


def show_help(text: str) -> None:
    """Print a tool's usage (``{presets}`` becomes the preset list) and exit 0."""
    presets = ", ".join(available_scenarios())
    print(text.strip().format(presets=presets, combine=COMBINE, parameters=PARAMETER_DOC))
    raise SystemExit(0)


def parse(tool: str, args: Sequence[str], tool_keys: Iterable[str], *, model: bool = True,
          prefixes: Iterable[str] = ()) -> Args:
    """Split ``key=value`` arguments into model settings and tool settings.

    Parameters
    ----------
    tool : str
        The tool's name, for messages.
    args : sequence of str
        The command line (without the program name).
    tool_keys : iterable of str
        Keys of the tool's own settings.
    model : bool
        Whether the tool takes model settings.
    prefixes : iterable of str
        Dotted prefixes of tool settings (``dask.`` for ``dask.address=...``).

    Raises
    ------
    ConfigError
        An argument that is not ``key=value``, or a key that is neither a
        model parameter nor a setting of the tool (with the closest name).
    """
    tool_keys, prefixes = set(tool_keys), tuple(prefixes)
    out = Args()
    for arg in args:
        key, eq, value = arg.partition("=")
        key = key.strip()
        known = sorted(tool_keys | (set(parameter_specs()) if model else set()))
        if not eq or not key:
            raise ConfigError(f"'{arg}' is not of the form key=value (e.g. district.schools=30, workers=2)."
                              + did_you_mean(arg.lstrip("-").replace("-", "_"), known)
                              + f" Run '{tool} --help' for the settings.")
        if key in tool_keys or key.startswith(prefixes):
            out.tool[key] = value
        elif model and is_model_key(key):
            out.model.append(f"{key}={value}")
        else:
            what = "a model parameter or a setting of " + tool if model else "a setting of " + tool
            raise ConfigError(f"Unknown setting '{key}' in '{arg}': not {what}." + did_you_mean(key, known)
                              + f" Settings of {tool}: {', '.join(sorted(tool_keys))}."
                              + (f" Model parameters are listed in {PARAMETER_DOC}." if model else "")
                              + f" Run '{tool} --help' for an example.")
    return out


def fail(tool: str, exc: ConfigError) -> None:
    """Print a bad-input paragraph and exit 2 (the status every tool uses)."""
    from sim.exits import EXIT_BAD_INPUT

    print(f"{tool}: {exc}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def table_args(tool: str, args: Sequence[str], replicates: int, min_replicates: int = 1) -> tuple[int, int, bool]:
    """``replicates=N seed=N docs=true`` of a tool that prints one table (and writes it into the docs with
    ``docs=true``): ``(replicates, seed, docs)``, with ``replicates`` as the default. Bad input exits 2."""
    try:
        given = parse(tool, args, ("replicates", "seed", "docs"), model=False)
        n, seed = int(given.tool.get("replicates", replicates)), int(given.tool.get("seed", 0))
        docs = given.flag("docs")
        if n < min_replicates or seed < 0:
            raise ValueError
    except ConfigError as exc:  # a ValueError too: caught first, so that its own message is shown
        fail(tool, exc)
    except ValueError:
        fail(tool, ConfigError(f"replicates must be an integer >= {min_replicates}, seed an integer >= 0."))
    return n, seed, docs
