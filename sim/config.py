"""Configuration: compose Hydra configs, read the parameter specs, validate.

The single source of truth for every parameter is ``scenarios/config.yaml``:
its value is the default, and the comment block above it states meaning,
unit, allowed range (or choices) and source. :func:`parameter_specs` reads
those comments so that validation and the documentation table never drift
from the file. Scenario presets live in ``scenarios/scenario/``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("SIM_CONFIG_DIR", REPO_ROOT / "scenarios")).resolve()
CONFIG_NAME = "config"
SCENARIO_GROUP = "scenario"
#: Joins preset names in a scenario label: "clear_problems+flexibility" applies both, in order.
COMBINE = "+"
_NOT_PARAMETERS = ("defaults", "hydra")


class ConfigError(ValueError):
    """A configuration, override or input that the model refuses, with a readable reason.

    The message is kept to one paragraph of printable text: control characters
    that came from the input (a newline in a key, a NUL byte, a terminal escape
    sequence) are shown escaped, never passed to the terminal.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
        super().__init__(text, *args)


def yaml_problem(exc: BaseException) -> str:
    """Where and why PyYAML refused a text: "line L, column C: what was expected" (never the text itself)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        why = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if "\\t" in why or "\t" in why:
            why += " (YAML is indented with spaces, not tabs)"
        return f"line {mark.line + 1}, column {mark.column + 1}: {why}"
    if isinstance(exc, yaml.YAMLError):
        return str(exc).splitlines()[0][:200]
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return type(exc).__name__


def read_yaml(path: Path | str, what: str = "file") -> Any:
    """Parse a YAML file; ConfigError naming the file, line, column and what was expected if it is not YAML.

    The message never quotes the file's content (a mistyped path may point at a private file).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8 YAML.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or type(exc).__name__}).") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ConfigError(f"{path}: the {what} contains a NUL byte (line {line}); it is not a YAML text file.")
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"{path}: the {what} is not valid YAML at {yaml_problem(exc)}.") from None


@dataclass(frozen=True)
class ParamSpec:
    """What ``scenarios/config.yaml`` says about one parameter."""

    path: str
    default: Any
    meaning: str
    unit: str = ""
    range: tuple[float, float] | None = None
    choices: tuple[Any, ...] | None = None
    source: str = ""

    def allowed(self) -> str:
        """Human-readable allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c).lower() if isinstance(c, bool) else str(c)
                                          for c in self.choices)
        if self.range is not None:
            kind = ("an integer" if _is_int(self.default) or (_is_int_list(self.default) and "share" not in self.unit)
                    else "a number")
            return f"{kind} in [{_fmt(self.range[0])}, {_fmt(self.range[1])}]"
        return "any text"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_int_list(x: Any) -> bool:
    return isinstance(x, list | ListConfig)


_META = re.compile(r"^unit:")


def _parse_meta(line: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in [p.strip() for p in line.split(";")]:
        key, _, val = part.partition(":")
        key, val = key.strip(), val.strip()
        if key == "range":
            lo, hi = (float(v) for v in val.strip("[]").split(","))
            out["range"] = (lo, hi)
        elif key == "choices":
            out["choices"] = tuple(yaml.safe_load(val))
        elif key in ("unit", "source"):
            out[key] = val
    return out


@functools.cache
def parameter_specs(config_dir: Path = CONFIG_DIR) -> dict[str, ParamSpec]:
    """Parse ``config.yaml`` into ``{dotted.path: ParamSpec}`` (leaves only)."""
    text = (config_dir / f"{CONFIG_NAME}.yaml").read_text()
    defaults = yaml.safe_load(text)
    specs: dict[str, ParamSpec] = {}
    stack: list[tuple[int, str]] = []
    comments: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            comments = []
            continue
        indent = len(raw) - len(raw.lstrip())
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
            continue
        if stripped.startswith("-"):
            continue
        key = stripped.split(":", 1)[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [k for _, k in stack] + [key]
        value = defaults
        for k in path:
            value = value[k]
        if path[0] in _NOT_PARAMETERS:
            comments = []
            if isinstance(value, dict):
                stack.append((indent, key))
            continue
        if isinstance(value, dict):
            stack.append((indent, key))
        else:
            meta = [c for c in comments if _META.match(c)]
            meaning = " ".join(c for c in comments if not _META.match(c))
            if not meta or not meaning:
                raise RuntimeError(f"{'.'.join(path)} in config.yaml lacks its documentation block")
            specs[".".join(path)] = ParamSpec(path=".".join(path), default=value,
                                              meaning=meaning, **_parse_meta(meta[0]))
        comments = []
    return specs


def available_scenarios(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the scenario presets (files in ``scenarios/scenario/``)."""
    return sorted(p.stem for p in (config_dir / SCENARIO_GROUP).glob("*.yaml"))


def preset_parameters(config_dir: Path = CONFIG_DIR, names: Iterable[str] | None = None) -> set[str]:
    """Dotted paths of every parameter that some preset sets (or one of the presets ``names``): the policy
    levers that define the scenarios."""
    def leaves(node: dict, prefix: str = "") -> Iterable[str]:
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    out: set[str] = set()
    files = ([config_dir / SCENARIO_GROUP / f"{n}.yaml" for n in names] if names is not None
             else (config_dir / SCENARIO_GROUP).glob("*.yaml"))
    for path in files:
        node = yaml.safe_load(path.read_text()) or {}
        out.update(k for k in leaves({k: v for k, v in node.items() if k not in _NOT_PARAMETERS}))
    return out


def override_keys(overrides: Iterable[str]) -> list[str]:
    """The dotted parameter each Hydra override ``key=value`` sets (``+``/``~`` prefixes dropped)."""
    return [str(ov).split("=", 1)[0].lstrip("+~") for ov in overrides]


def scenario_presets(label: str) -> list[str]:
    """Preset names of a scenario label (``"a+b"`` combines presets a then b); ConfigError on an empty name."""
    names = str(label).split(COMBINE)
    if not all(n.strip() for n in names):
        raise ConfigError(f"Scenario label {str(label)[:80]!r} has an empty preset name: join preset names with "
                          f"'{COMBINE}', e.g. clear_problems{COMBINE}flexibility. Allowed presets: "
                          f"{', '.join(available_scenarios())}.")
    return names


def _scenario_list(scenario: str | Sequence[str]) -> list[str]:
    names = [scenario] if isinstance(scenario, str) else list(scenario)
    names = [n.strip() for name in names for n in str(name).strip("[]").split(",")]
    if any(not n for n in names) and any(names):
        raise ConfigError("A scenario list has an empty entry (e.g. a doubled or trailing comma); allowed "
                          f"scenarios: {', '.join(available_scenarios())}.")
    names = [n for n in names if n]
    if not names:
        raise ConfigError("No scenario given. Allowed scenarios: "
                          + ", ".join(available_scenarios()) + ".")
    known = available_scenarios()
    for name in names:
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            raise ConfigError(
                f"Unknown scenario '{name}'."
                + (f" Did you mean '{hint[0]}'?" if hint else "")
                + f" Allowed scenarios: {', '.join(known)}. Combine presets with '{COMBINE}', e.g."
                f" clear_problems{COMBINE}flexibility (later presets override earlier ones).")
    return names


def _check_override_keys(overrides: Iterable[str]) -> None:
    specs = parameter_specs()
    overrides = [str(ov) for ov in overrides]
    for ov, key in zip(overrides, override_keys(overrides)):
        if "=" not in ov:
            raise ConfigError(f"Override '{ov}' is not of the form key=value, e.g. district.schools=10.")
        if key == SCENARIO_GROUP or key.startswith("hydra"):
            continue
        if key in specs:
            continue
        section = key.rsplit(".", 1)[0] if "." in key else ""
        siblings = sorted(p for p in specs if section and p.startswith(section + "."))
        if not siblings:
            siblings = sorted({p.split(".")[0] for p in specs})
        hint = difflib.get_close_matches(key, list(specs), n=1)
        raise ConfigError(
            f"Unknown parameter '{key}' in override '{ov}'."
            + (f" Did you mean '{hint[0]}'?" if hint else "")
            + f" Allowed {'parameters under ' + repr(section) if section and siblings and siblings[0].startswith(section) else 'top-level keys'}: "
            + ", ".join(siblings) + ". See docs/parameters.md for every parameter.")


def validate(cfg: DictConfig | dict) -> None:
    """Raise :class:`ConfigError` unless every parameter is known and in its allowed range."""
    specs = parameter_specs()
    container = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    leaves = _leaves({k: v for k, v in container.items() if k not in _NOT_PARAMETERS})
    for path, value in leaves.items():
        spec = specs.get(path)
        if spec is None:
            hint = difflib.get_close_matches(path, list(specs), n=1)
            raise ConfigError(f"Unknown parameter '{path}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                              + " See docs/parameters.md for the allowed parameters.")
        _check_value(spec, value)
    missing = sorted(set(specs) - set(leaves))
    if missing:
        raise ConfigError(f"Parameter(s) missing from the configuration: {', '.join(missing)}.")


def _check_value(spec: ParamSpec, value: Any) -> None:
    bad = ConfigError(f"Invalid value {value!r} for '{spec.path}' ({spec.meaning}): "
                      f"allowed is {spec.allowed()}"
                      + (f" [{spec.unit}]" if spec.unit else "") + ".")
    if spec.choices is not None:
        if value not in spec.choices or type(value) is not type(spec.choices[0]):
            raise bad
        return
    if spec.range is None:
        if spec.path == "run.scenarios":
            if not (value == "all" or isinstance(value, list)):
                raise ConfigError(f"Invalid value {value!r} for 'run.scenarios': allowed is 'all' or a "
                                  f"list of scenario names from: {', '.join(available_scenarios())}.")
            if isinstance(value, list):
                _scenario_list([name for label in value for name in scenario_presets(str(label))])
        return
    values = value if isinstance(spec.default, list) else [value]
    if not isinstance(values, list):
        raise bad
    lo, hi = spec.range
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad
        if (_is_int(spec.default) or (isinstance(spec.default, list) and "share" not in spec.unit)) and not _is_int(v):
            raise bad
        if not lo <= v <= hi or v != v:
            raise bad


def _leaves(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_leaves(v, path + "."))
        else:
            out[path] = v
    return out


@functools.lru_cache(maxsize=256)
def _compose(scenarios: tuple[str, ...], overrides: tuple[str, ...]) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    ovs = [f"{SCENARIO_GROUP}=[{','.join(scenarios)}]", *overrides]
    try:
        if GlobalHydra.instance().is_initialized():
            cfg = compose(config_name=CONFIG_NAME, overrides=ovs)
        else:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                cfg = compose(config_name=CONFIG_NAME, overrides=ovs)
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"Could not apply overrides {list(overrides)}: {first}") from None
    OmegaConf.resolve(cfg)
    OmegaConf.set_struct(cfg, True)
    validate(cfg)
    return cfg


def load_config(scenario: str | Sequence[str] = "baseline", overrides: Sequence[str] = ()) -> DictConfig:
    """Return the resolved configuration that :func:`sim.simulate` would use.

    Parameters
    ----------
    scenario : str or sequence of str
        Preset name(s) from ``scenarios/scenario/``; several are applied in order.
    overrides : sequence of str
        Hydra override strings such as ``"district.schools=10"``.

    Returns
    -------
    omegaconf.DictConfig
        A fresh copy (safe to modify).

    Raises
    ------
    ConfigError
        Unknown scenario or parameter, or a value outside its allowed range.
    """
    names = tuple(_scenario_list(scenario))
    overrides = tuple(str(o) for o in overrides)
    _check_override_keys(overrides)
    return copy.deepcopy(_compose(names, overrides))


def load_container(scenario: str | Sequence[str] = "baseline", overrides: Sequence[str] = ()) -> dict:
    """The configuration of :func:`load_config` as a plain dict, cached and validated.

    The fast path for code that runs many simulations (:func:`sim.simulate`):
    no deep copy of the DictConfig per call. The dict is shared between calls,
    so treat it as read-only (:class:`sim.district.model.DistrictModel` only reads it,
    through :func:`to_params`); use :func:`load_config` for a copy to modify.
    """
    names = tuple(_scenario_list(scenario))
    overrides = tuple(str(o) for o in overrides)
    _check_override_keys(overrides)
    return _container(names, overrides)


@functools.lru_cache(maxsize=256)
def _container(scenarios: tuple[str, ...], overrides: tuple[str, ...]) -> dict:
    return OmegaConf.to_container(_compose(scenarios, overrides), resolve=True)


def to_params(cfg: DictConfig | dict) -> SimpleNamespace:
    """Plain attribute namespace of a config for fast access in the model's hot loop."""
    container = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)

    def ns(d: Any) -> Any:
        if isinstance(d, dict):
            return SimpleNamespace(**{k: ns(v) for k, v in d.items()})
        if isinstance(d, list):
            return [ns(v) for v in d]
        return d

    return ns({k: v for k, v in container.items() if k not in _NOT_PARAMETERS})
