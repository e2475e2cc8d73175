"""The workshop app's model side: settings, the side-by-side model, status line, export.

Kept apart from the page (:mod:`sim.app`) so that it can be used and tested
without a browser, and so that the app's export button and the
``sim-app export`` command share one code path.

Lever semantics: every slider starts at the parameter's default in
``scenarios/config.yaml``. A lever left at that position keeps the value of the
chosen scenario preset; a moved lever overrides the preset. Select boxes start
at "as preset" for the same reason.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import OmegaConf

from sim import inputs
from sim.config import ConfigError, ParamSpec, available_scenarios, load_config, parameter_specs
from sim.district.calendar import when
from sim.district.model import DistrictModel
from sim.provenance import package_versions, provenance

BASELINE = "baseline"
AS_PRESET = "as preset"
SCHOOLS_PATH = "district.schools"
#: Largest district the app offers (the model allows more; the picture gets crowded beyond this).
MAX_APP_SCHOOLS = 200
#: Labels of the two runs of a comparison, as shown in the app and written to the CSV.
CHOSEN, REFERENCE = "your settings", "baseline"


@dataclass(frozen=True)
class Lever:
    """A slider of the app bound to one parameter of ``scenarios/config.yaml``.

    ``ui_max`` caps the slider below the parameter's allowed maximum where that
    maximum is far beyond a workshop's horizon (e.g. months of patience).
    """

    name: str
    path: str
    label: str
    step: float = 0.05
    ui_max: float | None = None
    note: str = ""

    @property
    def spec(self) -> ParamSpec:
        return parameter_specs()[self.path]

    @property
    def is_int(self) -> bool:
        return isinstance(self.spec.default, int) and not isinstance(self.spec.default, bool)

    @property
    def bounds(self) -> tuple[float, float]:
        lo, hi = self.spec.range
        if self.ui_max is not None:
            hi = min(hi, self.ui_max)
        return (int(lo), int(hi)) if self.is_int else (lo, hi)

    def unit(self) -> str:
        """The parameter's unit in few words ("0-1" for the 0-1 scales)."""
        unit = self.spec.unit
        return {"0-1 scale": "0-1", "FTE per school": "FTE/school", "month": "months"}.get(unit, unit)

    def label_with_unit(self) -> str:
        return f"{self.label} ({self.unit()})"


@dataclass(frozen=True)
class Choice:
    """A select box of the app bound to one categorical parameter."""

    name: str
    path: str
    label: str

    @property
    def spec(self) -> ParamSpec:
        return parameter_specs()[self.path]

    @property
    def values(self) -> list[str]:
        return [AS_PRESET, *(str(c) for c in self.spec.choices)]


#: The main levers of the report, in the order the app shows them (labels short enough for the sidebar).
LEVERS: tuple[Lever, ...] = (
    Lever("goal_clarity", "policy.goal_clarity", "Goal clarity"),
    Lever("coaching", "policy.coaching_fte", "Coaching", step=0.1),
    Lever("flexibility", "policy.flexibility", "Flexibility"),
    Lever("test_pressure", "policy.test_pressure", "Test pressure"),
    Lever("patience", "backaway.grace_steps", "Patience", step=1, ui_max=100,
          note="Months the district waits before it may back away after disappointing results; only matters "
               "in presets where it can back away (backaway.enabled)."),
    Lever("teacher_capacity", "teacher.capacity_mean", "Teacher capacity"),
    Lever("teacher_autonomy", "teacher.autonomy_mean", "Teacher autonomy"),
)
CHOICES: tuple[Choice, ...] = (
    Choice("flexibility_mode", "policy.flexibility_mode", "Flexibility granted as"),
    Choice("knowledge", "knowledge.mode", "Knowledge management"),
)
_LEVER = {lv.name: lv for lv in LEVERS}
_CHOICE = {c.name: c for c in CHOICES}
SETTING_NAMES = ("scenario", "seed", "schools", "side_by_side", *_LEVER, *_CHOICE)


def _allowed_names() -> str:
    return ", ".join(SETTING_NAMES)


@dataclass(frozen=True)
class Settings:
    """What the app's controls say: preset, seed, district size, levers, side-by-side.

    Build with :meth:`from_values`, which validates and converts text input.
    ``levers`` holds every lever's slider position; ``choices`` every select box.
    """

    scenario: str = BASELINE
    seed: int = 0
    schools: int = 50
    side_by_side: bool = True
    levers: Mapping[str, float] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_values(cls, **values: Any) -> Settings:
        """Validate control values (numbers may arrive as text) into Settings.

        Raises
        ------
        ConfigError
            Unknown setting, unknown scenario, or a value outside its allowed range.
        """
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            raise ConfigError(f"Unknown setting(s) {', '.join(unknown)}. Allowed settings: {_allowed_names()}.")
        scenario = str(values.get("scenario", BASELINE))
        scenarios = available_scenarios()
        if scenario not in scenarios:
            raise ConfigError(f"Unknown scenario '{scenario}'. Allowed scenarios: {', '.join(scenarios)}.")
        seed = _as_int("seed", values.get("seed", 0), parameter_specs()["seed"].range)
        schools = _as_int("schools", values.get("schools", parameter_specs()[SCHOOLS_PATH].default),
                          (parameter_specs()[SCHOOLS_PATH].range[0], MAX_APP_SCHOOLS))
        side = _as_bool("side_by_side", values.get("side_by_side", True))
        levers = {}
        for lv in LEVERS:
            raw = values.get(lv.name, lv.spec.default)
            levers[lv.name] = (_as_int(lv.name, raw, lv.bounds) if lv.is_int
                               else _as_float(lv.name, raw, lv.bounds, lv.spec.unit))
        choices = {}
        for ch in CHOICES:
            v = str(values.get(ch.name, AS_PRESET))
            if v not in ch.values:
                raise ConfigError(f"Invalid value '{v}' for '{ch.name}' ({ch.label}): allowed is one of "
                                  f"{', '.join(ch.values)}.")
            choices[ch.name] = v
        return cls(scenario, seed, schools, side, levers, choices)

    def moved(self) -> dict[str, Any]:
        """Levers moved away from their default and choices not left at "as preset"."""
        out: dict[str, Any] = {n: v for n, v in self.levers.items() if v != _LEVER[n].spec.default}
        out.update({n: v for n, v in self.choices.items() if v != AS_PRESET})
        return out

    def overrides(self) -> list[str]:
        """Hydra overrides on top of the preset: district size and every moved lever or choice."""
        paths = {**{n: lv.path for n, lv in _LEVER.items()}, **{n: c.path for n, c in _CHOICE.items()}}
        return [f"{SCHOOLS_PATH}={self.schools}", *(f"{paths[n]}={_fmt(v)}" for n, v in self.moved().items())]

    def reference(self) -> Settings:
        """The baseline comparison: same seed and district size, no preset, no lever moved."""
        return Settings(BASELINE, self.seed, self.schools, False)

    def is_baseline(self) -> bool:
        return self.scenario == BASELINE and not self.moved()

    def as_args(self) -> list[str]:
        """key=value arguments of ``sim-app export`` that rebuild these settings."""
        args = [f"scenario={self.scenario}", f"seed={self.seed}", f"schools={self.schools}"]
        return args + [f"{n}={_fmt(v)}" for n, v in self.moved().items()]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def _range_text(bounds: Sequence[float], unit: str = "") -> str:
    lo, hi = bounds
    return f"[{_fmt(lo)}, {_fmt(hi)}]" + (f" ({unit})" if unit else "")


def _as_int(name: str, raw: Any, bounds: Sequence[float]) -> int:
    text = str(raw).strip()
    if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        raise ConfigError(f"Invalid value {raw!r} for '{name}': allowed is a whole number in "
                          f"{_range_text(bounds)}.")
    value = int(float(text))
    if not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"Invalid value {value} for '{name}': allowed is a whole number in {_range_text(bounds)}.")
    return value


def _as_float(name: str, raw: Any, bounds: Sequence[float], unit: str) -> float:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value != value or not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"Invalid value {raw!r} for '{name}': allowed is a number in {_range_text(bounds, unit)}.")
    return round(value, 10)


def _as_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"Invalid value {raw!r} for '{name}': allowed is true or false.")


def build_model(settings: Settings) -> DistrictModel:
    """The district model of a Settings (what :func:`sim.simulate` runs for the same arguments)."""
    return inputs.build_model(load_config(settings.scenario, settings.overrides()), seed=settings.seed,
                              validate_config=False)


class WorkshopModel(DistrictModel):
    """The app's model: a :class:`DistrictModel` of the chosen settings, stepping a baseline twin.

    SolaraViz re-creates this class with the control values as keyword
    arguments on Reset (see :meth:`Settings.from_values` for the names). With
    ``side_by_side`` (and settings that differ from the baseline), ``baseline``
    is a second model of the baseline preset with the same seed and district
    size that steps in lockstep, so differences come from the policy, not chance.
    """

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        self.settings = settings if settings is not None else Settings.from_values(**kwargs)
        s = self.settings
        super().__init__(load_config(s.scenario, s.overrides()), seed=s.seed, validate_config=False)
        self.baseline: DistrictModel | None = (build_model(s.reference()) if s.side_by_side and not s.is_baseline()
                                               else None)

    def step(self) -> None:
        """One school month for the chosen settings and the baseline twin."""
        super().step()
        if self.baseline is not None:
            self.baseline.step()

    def runs(self) -> list[tuple[str, DistrictModel]]:
        """(label, model) of the runs on show: the chosen settings, then the baseline if any."""
        return [(CHOSEN, self)] + ([(REFERENCE, self.baseline)] if self.baseline is not None else [])


def status_line(row: Mapping[str, Any], n_schools: int) -> str:
    """One sentence on where the district stands, from one row of :func:`sim.simulate` output.

    "Year 2, month 3: 4 of 50 schools school-wide, 31 stalled in pilot
    classrooms; 14% of teachers use it, 2% with depth".
    """
    schoolwide = round(float(row["schoolwide_share"]) * n_schools)
    stalled = round(float(row["pilot_stall_share"]) * n_schools)
    text = (f"{when(int(row['step']))}: {schoolwide} of {n_schools} schools school-wide, "
            f"{stalled} stalled in pilot classrooms; {float(row['teacher_adoption']):.0%} of teachers use it, "
            f"{float(row['deep_adoption']):.0%} with depth")
    if int(row["backed_away"]):
        text += "; the district has backed away"
    return text


def model_status(model: DistrictModel) -> str:
    """:func:`status_line` of a model's current state."""
    return status_line({"step": model.steps, **model.latest}, model.n_schools)


# -- export ----------------------------------------------------------------------------------

def baseline_twin(model: WorkshopModel) -> DistrictModel:
    """The same-seed baseline at the model's current step: the running twin, or a re-run.

    The model is deterministic given settings and seed, so a re-run equals the
    twin the app would have stepped alongside.
    """
    if model.baseline is not None:
        return model.baseline
    base = build_model(model.settings.reference())
    base.run(model.steps)
    return base


def comparison_frame(model: WorkshopModel, base: DistrictModel) -> pd.DataFrame:
    """Tidy time series of the chosen settings (``run`` = "your settings") and the baseline ``base``.

    Both are cut at the step both have reached (the app may be playing while it exports).
    """
    last = min(model.steps, base.steps)
    frames = []
    for label, settings, m in ((CHOSEN, model.settings, model), (REFERENCE, model.settings.reference(), base)):
        ts = m.timeseries()
        ts = ts[ts["step"] <= last].copy()
        ts.insert(0, "seed", settings.seed)
        ts.insert(0, "scenario", settings.scenario)
        ts.insert(0, "run", label)
        ts.insert(ts.columns.get_loc("step") + 1, "when", [when(s) for s in ts["step"]])
        frames.append(ts)
    return pd.concat(frames, ignore_index=True)


def export_comparison(model: WorkshopModel, root: Path | str = "results/app") -> Path:
    """Save the current comparison for a handout: PNG figures, CSV, config and provenance.

    Writes ``<root>/<time>_<scenario>_seed<seed>_step<step>/`` with
    ``comparison.csv`` (both runs, every step), ``curves.png`` (six metrics),
    the app's figures ``district.png``, ``adoption.png``, ``schools.png`` and
    ``strain.png``, ``config.yaml``, ``config_baseline.yaml``,
    ``provenance.yaml`` and ``status.txt``. Returns that folder.

    CSV, charts, status and provenance share one step (the last both runs
    reached); pressed while playing, the district picture may be a step ahead.
    """
    from sim.app.views import CHARTS, Chart, DistrictPicture
    from sim.runs.plots import curves_with_bands

    s = model.settings
    base = baseline_twin(model)
    df = comparison_frame(model, base)
    step = int(df["step"].max())
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(root) / f"{stamp}_{s.scenario}_seed{s.seed}_step{step}"
    suffix = 1
    while out.exists():
        suffix += 1
        out = out.with_name(f"{out.name.split('~')[0]}~{suffix}")
    out.mkdir(parents=True)
    df.to_csv(out / "comparison.csv", index=False)
    curves_with_bands(df, out / "curves.png", by="run",
                      metrics=("teacher_adoption", "deep_adoption", "schoolwide_share", "replicated_models",
                               "mean_exhaustion", "equity_gap"),
                      title=f"{s.scenario} (your settings) vs baseline, seed {s.seed}, {s.schools} schools, "
                            f"{when(step).lower()}")
    runs = [(CHOSEN, model), (REFERENCE, base)]
    picture = DistrictPicture(runs, animated=False)
    picture.update()
    picture.fig.savefig(out / "district.png", dpi=150)
    data = {label: g.drop(columns=["run", "scenario", "seed", "when"]) for label, g in df.groupby("run", sort=False)}
    for name in CHARTS:  # the app's own charts, as the workshop saw them
        chart = Chart(name, [label for label, _ in runs], model.p.steps, animated=False)
        chart.update(data)
        chart.fig.savefig(out / f"{name}.png", dpi=150)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(load_config(s.scenario, s.overrides())))
    (out / "config_baseline.yaml").write_text(OmegaConf.to_yaml(load_config(BASELINE, s.reference().overrides())))
    last = df[df["step"] == step].set_index("run")
    (out / "status.txt").write_text("".join(f"{label}: {status_line(last.loc[label], s.schools)}\n"
                                            for label in (CHOSEN, REFERENCE)))
    meta = provenance(seed=s.seed, scenario=s.scenario, steps=step, overrides=s.overrides(),
                      baseline_overrides=s.reference().overrides(), app_settings=s.as_args(),
                      app_packages=package_versions(("solara", "solara-assets", "ipyvuetify")),
                      reproduce="sim-app export " + " ".join([*s.as_args(), f"steps={step}"]))
    (out / "provenance.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return out


def settings_from_args(args: Sequence[str]) -> tuple[Settings, dict[str, str]]:
    """Split ``key=value`` arguments into Settings and the remaining (non-setting) options."""
    values: dict[str, str] = {}
    rest: dict[str, str] = {}
    for a in args:
        key, sep, value = a.partition("=")
        if not sep or not key:
            raise ConfigError(f"Argument '{a}' is not of the form key=value.")
        (values if key in SETTING_NAMES else rest)[key] = value
    return Settings.from_values(**values), rest
