"""The workshop app's model side: settings, the side-by-side model, events, status line, export.

Kept apart from the page (:mod:`sim.app.page`) so that it can be used and
tested without a browser, and so that the app's download button and the
``sim-app export`` command share one code path.

Lever semantics: the app shows every lever at the value in effect, which is
the chosen preset's value unless the lever was moved. Choosing a preset moves
every lever to that preset's values. Settings keep only the levers that differ
from the preset, keyed by their dotted configuration path, which is also how
they appear in the page's address (``?scenario=henry_all_in&seed=3&schools=50
&policy.goal_clarity=0.9``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import re
import urllib.parse
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from sim import inputs
from sim.config import (
    CONFIG_DIR,
    ConfigError,
    ParamSpec,
    available_scenarios,
    load_config,
    load_container,
    parameter_specs,
)
from sim.district.calendar import when
from sim.district.metrics import imported
from sim.district.model import DistrictModel
from sim.provenance import git_revision, package_versions, provenance

BASELINE = "baseline"
SCHOOLS_PATH = "district.schools"
#: Largest district the app offers (the model allows more; the picture gets crowded beyond this).
MAX_APP_SCHOOLS = 200
#: Labels of the two runs of a comparison, as shown in the app and written to the CSV.
CHOSEN, REFERENCE = "your settings", "baseline"


@dataclass(frozen=True)
class Lever:
    """A control of the app bound to one parameter of ``scenarios/config.yaml`` (its dotted ``path``).

    ``name`` is the short name ``sim-app export`` also accepts; ``ui_max``
    caps the slider below the parameter's allowed maximum where that maximum
    is far beyond a workshop's horizon (e.g. months of patience). A lever
    whose parameter has ``choices`` is a select box.
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
    def is_choice(self) -> bool:
        return bool(self.spec.choices)

    @property
    def is_int(self) -> bool:
        return isinstance(self.spec.default, int) and not isinstance(self.spec.default, bool)

    @property
    def values(self) -> list[str]:
        return [str(c) for c in self.spec.choices]

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
        return self.label if self.is_choice else f"{self.label} ({self.unit()})"

    def show(self, value: Any) -> str:
        """A value with its unit, as the page prints it: "0.5 FTE/school", "0.8 on a 0-1 scale"."""
        if self.is_choice:
            return str(value)
        unit = "on a 0-1 scale" if self.unit() == "0-1" else self.unit()
        return f"{_fmt(value)} {unit}"

    def parse(self, raw: Any) -> Any:
        """Validate a value of this lever (numbers may arrive as text)."""
        if self.is_choice:
            if str(raw) not in self.values:
                raise ConfigError(f"Invalid value '{raw}' for '{self.path}' ({self.label}): allowed is one of "
                                  f"{', '.join(self.values)}.")
            return str(raw)
        if self.is_int:
            return _as_int(self.path, raw, self.bounds)
        return _as_float(self.path, raw, self.bounds, self.spec.unit)


#: The main levers of the report, in the order the app shows them (labels short enough for the side panel).
LEVERS: tuple[Lever, ...] = (
    Lever("goal_clarity", "policy.goal_clarity", "Goal clarity"),
    Lever("coaching", "policy.coaching_fte", "Coaching", step=0.1),
    Lever("flexibility", "policy.flexibility", "Flexibility"),
    Lever("flexibility_mode", "policy.flexibility_mode", "Flexibility granted as"),
    Lever("test_pressure", "policy.test_pressure", "Test pressure"),
    Lever("patience", "backaway.grace_steps", "Patience", step=1, ui_max=100,
          note="Months the district waits before it may back away after disappointing results; only matters "
               "in presets where it can back away (backaway.enabled)."),
    Lever("knowledge", "knowledge.mode", "Knowledge management"),
    Lever("teacher_capacity", "teacher.capacity_mean", "Teacher capacity"),
    Lever("teacher_autonomy", "teacher.autonomy_mean", "Teacher autonomy"),
)
LEVER_BY_PATH = {lv.path: lv for lv in LEVERS}
_BY_NAME = {lv.name: lv for lv in LEVERS}
BASIC_NAMES = ("scenario", "seed", "schools", "side_by_side")


def _allowed_names() -> str:
    return ", ".join([*BASIC_NAMES, *LEVER_BY_PATH])


def lever(key: str) -> Lever:
    """The lever of a dotted path or short name."""
    if key in LEVER_BY_PATH:
        return LEVER_BY_PATH[key]
    return _BY_NAME[key]


def is_setting(key: str) -> bool:
    return key in BASIC_NAMES or key in LEVER_BY_PATH or key in _BY_NAME


@functools.lru_cache(maxsize=64)
def _preset(scenario: str) -> dict:
    return load_container(scenario, ())


def preset_value(scenario: str, path: str) -> Any:
    """The value a preset gives a parameter (its own or the config default)."""
    node: Any = _preset(scenario)
    for part in path.split("."):
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return abs(float(a) - float(b)) < 1e-9


@dataclass(frozen=True)
class Settings:
    """What the app's controls say: preset, seed, district size, side by side, and the moved levers.

    ``changes`` holds ``(dotted path, value)`` of each lever that differs from
    the preset, sorted; a lever moved back to the preset's value is no change.
    Build with :meth:`from_values` or :meth:`from_query`, which validate.
    """

    scenario: str = BASELINE
    seed: int = 0
    schools: int = 50
    side_by_side: bool = True
    changes: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_values(cls, **values: Any) -> Settings:
        """Validate control values (numbers may arrive as text) into Settings.

        Levers are named by dotted path (``policy.goal_clarity``) or short name (``goal_clarity``).

        Raises
        ------
        ConfigError
            Unknown setting, unknown scenario, or a value outside its allowed range.
        """
        unknown = sorted(k for k in values if not is_setting(k))
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
        out = cls(scenario, seed, schools, side)
        for key, raw in values.items():
            if key not in BASIC_NAMES:
                lv = lever(key)
                out = out.with_lever(lv.path, lv.parse(raw))
        return out

    @classmethod
    def from_query(cls, search: str | None) -> Settings:
        """Settings from a page address's query string (``scenario=...&seed=...&policy.goal_clarity=...``)."""
        pairs = urllib.parse.parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
        return cls.from_values(**dict(pairs))

    def query(self) -> str:
        """The query string of these settings; :meth:`from_query` reads it back."""
        pairs: list[tuple[str, Any]] = [("scenario", self.scenario), ("seed", self.seed), ("schools", self.schools)]
        if not self.side_by_side:
            pairs.append(("side_by_side", "false"))
        pairs += [(path, _fmt(v)) for path, v in self.changes]
        return urllib.parse.urlencode(pairs, safe=".")

    def value(self, path: str) -> Any:
        """The value in effect of a lever: moved, or the preset's."""
        return dict(self.changes).get(path, preset_value(self.scenario, path))

    def with_scenario(self, scenario: str) -> Settings:
        """Another preset; every lever moves to that preset's value."""
        return replace(Settings.from_values(scenario=scenario), seed=self.seed, schools=self.schools,
                       side_by_side=self.side_by_side)

    def with_lever(self, path: str, value: Any) -> Settings:
        """One lever set (to the preset's value: no longer a change)."""
        lv = lever(path)
        value = lv.parse(value)
        changes = {p: v for p, v in self.changes if p != lv.path}
        if not _same(value, preset_value(self.scenario, lv.path)):
            changes[lv.path] = value
        return replace(self, changes=tuple(sorted(changes.items())))

    def moved(self) -> dict[str, Any]:
        """Levers that differ from the preset, by dotted path."""
        return dict(self.changes)

    def overrides(self) -> list[str]:
        """Hydra overrides on top of the preset: district size and every moved lever."""
        return [f"{SCHOOLS_PATH}={self.schools}", *(f"{p}={_fmt(v)}" for p, v in self.changes)]

    def reference(self) -> Settings:
        """The baseline comparison: same seed and district size, no preset, no lever moved."""
        return Settings(BASELINE, self.seed, self.schools, False)

    def is_baseline(self) -> bool:
        return self.scenario == BASELINE and not self.changes

    def as_args(self) -> list[str]:
        """key=value arguments of ``sim-app export`` that rebuild these settings."""
        return [f"scenario={self.scenario}", f"seed={self.seed}", f"schools={self.schools}",
                *(f"{p}={_fmt(v)}" for p, v in self.changes)]

    def label(self) -> str:
        """Scenario, seed and size in a few words, for figure captions and file names."""
        moved = f", {len(self.changes)} lever{'s' if len(self.changes) > 1 else ''} moved" if self.changes else ""
        return f"{self.scenario}{moved}, seed {self.seed}, {self.schools} schools"


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


# -- what a preset is ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PresetText:
    """A preset in plain words, read from its own file: title, summary, the passages it encodes, what it sets."""

    name: str
    title: str
    summary: str
    passages: tuple[str, ...]
    sets: tuple[tuple[str, Any], ...]


@functools.lru_cache(maxsize=64)
def preset_text(scenario: str, config_dir: Path = CONFIG_DIR) -> PresetText:
    """The preset's own description: its header comment (summary and cited passages) and its values."""
    path = config_dir / "scenario" / f"{scenario}.yaml"
    text = path.read_text()
    comments = []
    for line in text.splitlines():
        if line.startswith("# @package"):
            continue
        if not line.startswith("#"):
            break
        comments.append(line[1:].removeprefix(" ") if line.strip() != "#" else "")
    # Paragraphs are separated by a lone "#". After the first (the summary), a line that is not indented
    # starts a new source ("the report's executive summary: ...", "S003: ..."); its quotations are passages.
    blocks: list[list[str]] = [[]]
    first_done = False
    for line in comments:
        if not line.strip():
            first_done = first_done or bool(blocks[-1])
            blocks.append([])
            continue
        if first_done and not line.startswith(" ") and blocks[-1]:
            blocks.append([])
        blocks[-1].append(line.strip())
    paras = [re.sub(r"(?<=[a-z])-\n(?!and |or )", "-", "\n".join(b)).replace("\n", " ") for b in blocks if b]
    first = paras[0] if paras else scenario
    title, _, summary = first.partition(": ")
    if title != scenario:
        summary = first
    sentences = re.split(r"(?<=\.)\s+", summary)
    head, rest = sentences[0].rstrip("."), " ".join(sentences[1:])
    head = head[:1].upper() + head[1:]
    # The cited passages: the quotations of the paragraphs that start with a source id ("S003: ...").
    passages = tuple("; ".join(re.findall(r'"[^"]+"', p)) for p in paras[1:])
    passages = tuple(p for p in passages if p)
    values = yaml.safe_load(text) or {}
    flat = pd.json_normalize(values, sep=".").iloc[0].to_dict() if values else {}
    return PresetText(scenario, head, rest, passages, tuple(flat.items()))


# -- the model on show -----------------------------------------------------------------------------

def build_model(settings: Settings) -> DistrictModel:
    """The district model of a Settings (what :func:`sim.simulate` runs for the same arguments)."""
    return inputs.build_model(load_config(settings.scenario, settings.overrides()), seed=settings.seed,
                              validate_config=False)


class WorkshopModel(DistrictModel):
    """The app's model: a :class:`DistrictModel` of the chosen settings, stepping a baseline twin.

    With ``side_by_side`` (and settings that differ from the baseline),
    ``baseline`` is a second model of the baseline preset with the same seed
    and district size that steps in lockstep, so differences come from the
    policy, not chance.
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


@dataclass(frozen=True)
class Event:
    """Something that happened in a run at a step: ``kind`` is cohort, withdrawal, key_person, codified or
    imported."""

    step: int
    kind: str
    text: str


def events(model: DistrictModel) -> list[Event]:
    """The policy events of a run so far, in time order, read from the model's state.

    The one place the app reads events: cohort starts (schools' ``cohort`` and
    ``implement_step``), the district backing away (``office.backaway_step``),
    the key person leaving (``office.key_person_left_step``), schools
    codifying a model (the registry's ``step``) and schools taking up another
    school's model (months in which the ``replications`` count of the run's
    recorded metrics rises; a month that also loses one shows the net gain).
    Attributes a model version lacks are skipped.
    """
    now, out = int(model.steps), []
    s = model.schools_state
    cohort = np.asarray(getattr(s, "cohort", []), dtype=int)
    start = np.asarray(getattr(s, "implement_step", []), dtype=float)
    ids = sorted(set(cohort[cohort >= 0].tolist()))
    for c in ids:
        first = int(start[cohort == c].min())
        if first <= now:
            n = int((cohort == c).sum())
            who = f"cohort {c + 1} ({n} schools)" if len(ids) > 1 else f"the initiative ({n} schools)"
            out.append(Event(max(first, 0), "cohort", f"{who} starts"))
    office = getattr(model, "office", None)
    step = int(getattr(office, "backaway_step", -1))
    if 0 <= step <= now:
        out.append(Event(step, "withdrawal", "the district backs away"))
    step = int(getattr(office, "key_person_left_step", -1))
    if 0 <= step <= now:
        out.append(Event(step, "key_person", "the key person leaves"))
    registry = getattr(model, "registry", None)
    steps = [int(t) for t in getattr(registry, "step", [])]
    for t in sorted(set(steps)):
        if t <= now:
            n = steps.count(t)
            out.append(Event(t, "codified", f"{n} school{'s' if n > 1 else ''} codif{'y' if n > 1 else 'ies'} "
                                            f"{'their' if n > 1 else 'its'} own model ({sum(x <= t for x in steps)} "
                                            "in all)"))
    before = 0
    for row in getattr(model, "history", ()):
        now_in, step = int(row["replications"]), int(row["step"])
        if now_in > before and step <= now:
            n = now_in - before
            out.append(Event(step, "imported", f"{n} school{'s' if n > 1 else ''} take{'' if n > 1 else 's'} up "
                                               f"another school's model ({now_in} in all)"))
        before = now_in
    order = {"cohort": 0, "withdrawal": 1, "key_person": 2, "codified": 3, "imported": 4}
    return sorted(out, key=lambda e: (e.step, order.get(e.kind, 9)))


def event_line(model: DistrictModel) -> str:
    """The latest step's events in a sentence: "Year 3, month 6: the district backs away", or ""."""
    evs = events(model)
    if not evs:
        return ""
    last = evs[-1].step
    return f"{when(last)}: " + "; ".join(e.text for e in evs if e.step == last)


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


def copied_model_schools(model: DistrictModel) -> int:
    """Schools with a model codified in another school (the diamonds of the district picture)."""
    return int(np.count_nonzero(imported(model)))


#: The headline table: metric, label, unit, which direction is better.
HEADLINE: tuple[tuple[str, str, str, int], ...] = (
    ("teacher_adoption", "Teachers using the practice", "% of teachers", +1),
    ("deep_adoption", "... of them with depth", "% of teachers", +1),
    ("schoolwide", "Schools where it is school-wide", "schools", +1),
    ("stalled", "Schools stalled in pilot classrooms", "schools", -1),
    ("copied", "Schools with a model from another school", "schools", +1),
    ("mean_exhaustion", "Teacher exhaustion", "% of energy lost", -1),
    ("equity_gap", "Equity gap, typical vs margins", "index, 0-1", -1),
)


def headline_values(model: DistrictModel) -> dict[str, float]:
    """The headline table's values of a run now, each in its row's unit."""
    row, n = model.latest, model.n_schools
    return {"teacher_adoption": 100 * float(row["teacher_adoption"]),
            "deep_adoption": 100 * float(row["deep_adoption"]),
            "schoolwide": round(float(row["schoolwide_share"]) * n),
            "stalled": round(float(row["pilot_stall_share"]) * n),
            "copied": copied_model_schools(model),
            "mean_exhaustion": 100 * float(row["mean_exhaustion"]),
            "equity_gap": float(row["equity_gap"])}


def show_headline(key: str, value: float) -> str:
    if key in ("schoolwide", "stalled", "copied"):
        return f"{int(value)}"
    if key == "equity_gap":
        return f"{value:.3f}"
    return f"{value:.1f}"


def judge(key: str, diff: float) -> tuple[str, str]:
    """(difference as text, "better" / "worse" / "same") of your settings minus the baseline in one row."""
    better = dict((k, d) for k, _, _, d in HEADLINE)[key]
    tol = 0.0005 if key == "equity_gap" else 0.05
    if abs(diff) < tol:
        return "0", "same"
    sign = "+" if diff > 0 else "-"
    text = f"{sign}{show_headline(key, abs(diff))}"
    return text, "better" if diff * better > 0 else "worse"


# -- uncertainty -----------------------------------------------------------------------------------

#: Seeds of the uncertainty band (besides the one on show), and the share of runs it leaves out at each end.
BAND_SEEDS, BAND_TAIL = 8, 0.1
BAND_METRICS = ("teacher_adoption", "deep_adoption", "schoolwide_share", "replicated_models", "mean_exhaustion",
                "equity_gap")


def band_seeds(seed: int, n: int = BAND_SEEDS) -> list[int]:
    """Seeds of the band: replicates 1..n of the seed on show (``numpy.random.SeedSequence``)."""
    from sim.runs.runner import replicate_seed

    return [replicate_seed(seed, r) for r in range(1, n + 1)]


def seed_band(settings: Settings, steps: int, n: int = BAND_SEEDS) -> pd.DataFrame:
    """What chance alone does: the settings and the baseline over ``n`` other seeds.

    Returns one row per run (``your settings``, ``baseline``) and step with
    the ``lo`` and ``hi`` quantiles (``BAND_TAIL`` out at each end) of each of
    ``BAND_METRICS``, columns ``<metric>_lo`` and ``<metric>_hi``. Runs with
    :func:`sim.simulate`, so the band is what the same settings give elsewhere.
    """
    from sim import simulate

    frames = []
    for label, s in ((CHOSEN, settings), (REFERENCE, settings.reference())):
        for seed in band_seeds(settings.seed, n):
            df = simulate(s.scenario, seed=seed, overrides=[*s.overrides(), f"steps={steps}"])
            frames.append(df[["step", *BAND_METRICS]].assign(run=label))
    g = pd.concat(frames).groupby(["run", "step"], sort=False)[list(BAND_METRICS)]
    lo, hi = g.quantile(BAND_TAIL), g.quantile(1 - BAND_TAIL)
    return lo.add_suffix("_lo").join(hi.add_suffix("_hi")).reset_index()


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


def reproduce_command(settings: Settings, step: int) -> str:
    return "sim-app export " + " ".join([*settings.as_args(), f"steps={step}"])


def provenance_line(settings: Settings, step: int, date: str) -> str:
    """The line every exported figure carries: what, when, with which code, and how to reproduce it."""
    versions = package_versions(("mesa",))
    return (f"{settings.label()}, {when(step).lower()}. Made {date} with district-sim {git_revision()[:12]}, "
            f"mesa {versions['mesa']}. Reproduce: {reproduce_command(settings, step)}")


def _label_figure(fig, title: str, line: str) -> None:
    """Title above and provenance line below a figure (outside it: saved with ``bbox_inches="tight"``)."""
    import textwrap

    height = fig.get_figheight()
    fig.text(0.5, 1.0 + 0.05 / height, title, ha="center", va="bottom", fontsize=8, weight="bold")
    fig.text(0.5, -0.08 / height, "\n".join(textwrap.wrap(line, 150)), ha="center", va="top", fontsize=5)


def export_files(model: WorkshopModel, band: pd.DataFrame | None = None) -> dict[str, bytes]:
    """The handout of the current comparison, as file name -> bytes.

    ``comparison.csv`` (both runs, every step so far), ``handout.pdf`` (one
    page: the scenario in words, status, headline table, curves), the app's
    figures ``district.png``, ``adoption.png``, ``schools.png``, ``strain.png``
    and ``curves.png`` (six metrics), each labelled with scenario, seed, date
    and the provenance line; ``config.yaml``, ``config_baseline.yaml``,
    ``provenance.yaml`` and ``status.txt``. CSV, charts, status and provenance
    share one step (the last both runs reached). ``band`` (from
    :func:`seed_band`) adds the seed band to the adoption chart.
    """
    from sim.app.views import CHARTS, Chart, DistrictPicture, handout_pdf
    from sim.runs.plots import curves_with_bands

    s = model.settings
    base = baseline_twin(model)
    df = comparison_frame(model, base)
    step = int(df["step"].max())
    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    line = provenance_line(s, step, date)
    title = f"{s.label()} (your settings) vs baseline, {when(step).lower()}"
    # Shortest exact form of each float, whatever numpy's print options (some libraries change them).
    csv = df.to_csv(index=False, float_format=lambda x: repr(float(x)))
    files: dict[str, bytes] = {"comparison.csv": csv.encode()}

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, bbox_inches="tight", pad_inches=0.15)
        return buf.getvalue()

    runs = [(CHOSEN, model), (REFERENCE, base)]
    picture = DistrictPicture(runs, animated=False)
    picture.update()
    _label_figure(picture.fig, title, line)
    files["district.png"] = png(picture.fig)
    data = {label: g.drop(columns=["run", "scenario", "seed", "when"]) for label, g in df.groupby("run", sort=False)}
    evs = events(model)
    charts = {}
    for name in CHARTS:  # the app's own charts, cut at the step reached
        chart = Chart(name, [label for label, _ in runs], max(step, 1), animated=False)
        chart.update(data, band=band, events=evs)
        charts[name] = chart
        _label_figure(chart.fig, title, line)
        files[f"{name}.png"] = png(chart.fig)
    with _tmp_png() as tmp:
        curves_with_bands(df, tmp, by="run", metrics=BAND_METRICS, title=title)
        files["curves.png"] = tmp.read_bytes()
    text = preset_text(s.scenario)
    status = [f"Your settings: {model_status(model)}", f"Baseline: {model_status(base)}"]
    if event_line(model):
        status.append(f"Latest event: {event_line(model)}")
    mine, theirs = headline_values(model), headline_values(base)
    rows = []
    for key, label, unit, _ in HEADLINE:
        diff, verdict = judge(key, mine[key] - theirs[key])
        rows.append([label, unit, show_headline(key, mine[key]), show_headline(key, theirs[key]),
                     f"{diff} ({verdict})"])
    files["handout.pdf"] = handout_pdf(title, f"{text.title}. {text.summary}", status, rows,
                                       list(charts.values()), line)
    files["config.yaml"] = OmegaConf.to_yaml(load_config(s.scenario, s.overrides())).encode()
    files["config_baseline.yaml"] = OmegaConf.to_yaml(load_config(BASELINE, s.reference().overrides())).encode()
    last = df[df["step"] == step].set_index("run")
    files["status.txt"] = "".join(f"{label}: {status_line(last.loc[label], s.schools)}\n"
                                  for label in (CHOSEN, REFERENCE)).encode()
    meta = provenance(seed=s.seed, scenario=s.scenario, steps=step, overrides=s.overrides(),
                      baseline_overrides=s.reference().overrides(), app_settings=s.as_args(),
                      app_packages=package_versions(("solara", "solara-assets", "ipyvuetify")),
                      reproduce=reproduce_command(s, step))
    files["provenance.yaml"] = yaml.safe_dump(meta, sort_keys=False).encode()
    return files


class _tmp_png:
    def __enter__(self) -> Path:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        return Path(self._dir.name) / "curves.png"

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


def export_name(model: WorkshopModel) -> str:
    """Base name of an export: time, scenario, seed, step."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return f"{stamp}_{model.settings.scenario}_seed{model.settings.seed}_step{model.steps}"


def export_zip(model: WorkshopModel, band: pd.DataFrame | None = None) -> bytes:
    """:func:`export_files` as one ZIP (what the page's download button gives)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in export_files(model, band).items():
            zf.writestr(name, data)
    return buf.getvalue()


def export_comparison(model: WorkshopModel, root: Path | str = "results/app") -> Path:
    """Save :func:`export_files` to ``<root>/<time>_<scenario>_seed<seed>_step<step>/``; returns that folder."""
    out = Path(root) / export_name(model)
    suffix = 1
    while out.exists():
        suffix += 1
        out = out.with_name(f"{out.name.split('~')[0]}~{suffix}")
    out.mkdir(parents=True)
    for name, data in export_files(model).items():
        (out / name).write_bytes(data)
    return out


def settings_from_args(args: Sequence[str]) -> tuple[Settings, dict[str, str]]:
    """Split ``key=value`` arguments into Settings and the remaining (non-setting) options."""
    values: dict[str, str] = {}
    rest: dict[str, str] = {}
    for a in args:
        key, sep, value = a.partition("=")
        if not sep or not key:
            raise ConfigError(f"Argument '{a}' is not of the form key=value.")
        (values if is_setting(key) else rest)[key] = value
    return Settings.from_values(**values), rest
