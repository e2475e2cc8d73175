"""Fast tests of the workshop app (sim.app): controls, page, views, export, command line. No browser."""

from __future__ import annotations

import html
import io
import subprocess
import sys
import threading

import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
import yaml
from mesa.visualization.solara_viz import SolaraViz, _check_model_params
from mesa.visualization.utils import force_update, update_counter
from PIL import Image

import sim.app.page as app  # first: it silences a harmless hook warning that importing mesa's SolaraViz raises
from sim import simulate
from sim.app.state import (
    AS_PRESET,
    CHOICES,
    CHOSEN,
    LEVERS,
    REFERENCE,
    ConfigError,
    Settings,
    WorkshopModel,
    export_comparison,
    model_status,
    settings_from_args,
    status_line,
    when,
)
from sim.app.views import CHARTS, Chart, fmt_value
from sim.config import REPO_ROOT, available_scenarios, parameter_specs

SMALL = {"schools": 8}  # small districts keep these tests fast


def texts(rc, cls: str) -> list[str]:
    """Text of the (vuetify) widgets carrying a CSS class in a solara render."""
    return ["".join(c for c in w.children if isinstance(c, str)) for w in rc.find(class_=cls).widgets]


def image(rc, cls: str) -> bytes:
    """PNG bytes of the one image widget carrying a CSS class."""
    (widget,) = [w for w in rc.find(ipywidgets.Image).widgets if cls in w._dom_classes]
    return bytes(widget.value)


# -- controls ------------------------------------------------------------------------------------

def test_controls_offer_every_preset_and_lever_within_its_documented_range():
    params = app.model_params()
    assert params[app.PRESET]["values"] == available_scenarios()
    specs = parameter_specs()
    for lever in LEVERS:
        p, spec = params[lever.name], specs[lever.path]
        assert spec.range[0] <= p["min"] < p["max"] <= spec.range[1]
        assert p["value"] == spec.default
        assert lever.unit() in p["label"] and lever.label in p["label"]
    for choice in CHOICES:
        assert params[choice.name]["values"] == [AS_PRESET, *specs[choice.path].choices]
    # SolaraViz re-creates the model class with these names on Reset: it must accept them all.
    _check_model_params(app.AppModel.__init__, params)
    guide = app.guide_html()  # page 1 explains every control from config.yaml
    assert all(html.escape(spec.meaning) in guide for spec in (lv.spec for lv in (*LEVERS, *CHOICES)))


def test_unmoved_levers_keep_the_preset_and_moved_levers_override_it():
    assert Settings.from_values().overrides() == ["district.schools=50"]
    s = Settings.from_values(scenario="baseline", seed="7", schools="12", coaching=0.5, knowledge="plan",
                             goal_clarity=parameter_specs()["policy.goal_clarity"].default)
    assert s.seed == 7 and s.schools == 12
    assert s.overrides() == ["district.schools=12", "policy.coaching_fte=0.5", "knowledge.mode=plan"]
    assert not s.is_baseline() and Settings.from_values(schools=12).is_baseline()
    assert s.reference() == Settings("baseline", 7, 12, False)
    again, rest = settings_from_args(s.as_args() + ["steps=5"])
    assert again.overrides() == s.overrides() and again.seed == 7 and rest == {"steps": "5"}


@pytest.mark.parametrize("values, field", [
    ({"seed": "abc"}, "seed"), ({"seed": "-1"}, "seed"), ({"schools": 0}, "schools"),
    ({"coaching": 9}, "coaching"), ({"knowledge": "wiki"}, "knowledge"), ({"scenario": "nope"}, "scenario"),
    ({"colour": 1}, "colour"),
])
def test_bad_control_values_are_refused_with_the_field_and_allowed_values(values, field):
    with pytest.raises(ConfigError, match=field) as exc:
        Settings.from_values(**values)
    assert "allowed" in str(exc.value).lower()


def test_bad_input_in_the_page_builds_defaults_and_says_why():
    m = app.AppModel(seed="12x", **SMALL)
    assert "seed" in m.input_error and m.settings == Settings()


# -- model, status line --------------------------------------------------------------------------

def test_when_counts_ten_month_school_years():
    assert [when(s) for s in (0, 1, 10, 11, 23)] == [
        "Before year 1", "Year 1, month 1", "Year 1, month 10", "Year 2, month 1", "Year 3, month 3"]
    row = {"step": 13, "schoolwide_share": 4 / 50, "pilot_stall_share": 31 / 50, "teacher_adoption": 0.14,
           "deep_adoption": 0.02, "backed_away": 0}
    assert status_line(row, 50) == ("Year 2, month 3: 4 of 50 schools school-wide, 31 stalled in pilot "
                                    "classrooms; 14% of teachers use it, 2% with depth")


@pytest.mark.parametrize("seed", [0, 5])
def test_app_model_and_its_baseline_twin_equal_simulate(seed):
    s = Settings.from_values(seed=seed, coaching=1.0, goal_clarity=0.8, **SMALL)
    m = WorkshopModel(s)
    m.run(15)
    pd.testing.assert_frame_equal(m.timeseries(), simulate("baseline", seed=seed, overrides=s.overrides()).iloc[:16])
    pd.testing.assert_frame_equal(m.baseline.timeseries(),
                                  simulate("baseline", seed=seed, overrides=["district.schools=8"]).iloc[:16])
    assert m.timeseries()["teacher_adoption"].iloc[-1] != m.baseline.timeseries()["teacher_adoption"].iloc[-1]


# -- page and views ------------------------------------------------------------------------------

def test_page_builds_without_a_browser():
    box, rc = solara.render(app.Page(), handle_error=False)
    assert texts(rc, "sim-status-chosen")[0].startswith("Your settings: Before year 1: 0 of 50 schools school-wide")
    assert texts(rc, "sim-status-note")  # default settings are the baseline: nothing to compare
    for cls in ("sim-district", *(f"sim-chart-image-{c}" for c in CHARTS)):
        assert image(rc, cls)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Before year 1" not in texts(rc, "sim-caption-adoption")[0] and "any use 0.0%" in texts(
        rc, "sim-caption-adoption")[0]
    rc.close()


def test_views_update_as_the_model_steps_and_show_what_simulate_says():
    seed, steps = 3, 12
    model = app.AppModel(seed=str(seed), coaching=1.5, goal_clarity=0.9, knowledge="plan", **SMALL)
    box, rc = solara.render(SolaraViz(model, components=app.COMPONENTS, model_params=app.model_params()),
                            handle_error=False)
    district_before = image(rc, "sim-district")
    for _ in range(steps):
        model.step()
    force_update()
    chosen = simulate("baseline", seed=seed, overrides=model.settings.overrides()).iloc[steps]
    base = simulate("baseline", seed=seed, overrides=["district.schools=8"]).iloc[steps]
    assert texts(rc, "sim-status-chosen") == [f"Your settings: {status_line(chosen, 8)}"]
    assert texts(rc, "sim-status-baseline") == [f"Baseline: {status_line(base, 8)}"]
    caption = texts(rc, "sim-caption-adoption")[0]
    assert caption == (f"Now (your settings: any use {fmt_value('teacher_adoption', chosen.teacher_adoption)}, "
                       f"deep use {fmt_value('deep_adoption', chosen.deep_adoption)}; baseline: any use "
                       f"{fmt_value('teacher_adoption', base.teacher_adoption)}, deep use "
                       f"{fmt_value('deep_adoption', base.deep_adoption)})")
    assert "any use 0.0%" not in caption.split(";")[0]
    assert image(rc, "sim-district") != district_before
    settings = texts(rc, "sim-settings")[0]
    assert "coaching 1.5 FTE/school (moved)" in settings and "knowledge management: plan (moved)" in settings
    rc.close()


def test_a_step_waits_until_the_page_has_drawn_the_last_redraw(monkeypatch):
    # Mesa's Play loop does not wait for redraws; when a redraw is slower than a step, solara stopped the page
    # with "Too many renders" (seen on a busy CI machine). AppModel.step waits for the page instead.
    def step_in_thread() -> threading.Thread:
        t = threading.Thread(target=model.step)
        t.start()
        return t

    monkeypatch.setattr(app, "FRAME_WAIT_S", 60.0)  # far longer than the test: only frame_drawn can release it
    model = app.AppModel(**SMALL)
    model.step()  # nothing asked to be drawn yet
    first = step_in_thread()  # steps between two redraw requests (Render Interval > 1) do not wait
    first.join(30)
    assert not first.is_alive() and len(model.timeseries()) == 3
    force_update()  # Mesa asks the page to draw step 2
    second = step_in_thread()
    second.join(0.5)
    assert second.is_alive() and len(model.timeseries()) == 3, "step 3 must wait until step 2 is drawn"
    model.frame_drawn(update_counter.peek())
    second.join(30)
    assert not second.is_alive() and len(model.timeseries()) == 4
    force_update()
    monkeypatch.setattr(app, "FRAME_WAIT_S", 0.05)  # a page that never draws (closed tab) slows Play, no deadlock
    model.step()
    assert len(model.timeseries()) == 5


def test_the_page_reports_each_redraw_it_draws():
    model = app.AppModel(**SMALL)
    box, rc = solara.render(SolaraViz(model, components=app.COMPONENTS, model_params=app.model_params()),
                            handle_error=False)
    for _ in range(3):
        model.step()
        force_update()
        assert model.drawn_update == update_counter.peek()
    rc.close()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_blitted_frames_match_a_full_redraw():
    m = WorkshopModel(Settings.from_values(coaching=2.0, goal_clarity=1.0, **SMALL))
    labels = [label for label, _ in m.runs()]
    live = Chart("adoption", labels, horizon_steps=20)
    for steps in (5, 25):  # 25 steps outgrow the 2-year axis: the background must be redrawn
        m.run(steps - m.steps)
        data = {label: mm.timeseries() for label, mm in m.runs()}
        live.update(data)
        full = Chart("adoption", labels, horizon_steps=20, animated=False)
        full.update(data)
        a, b = _pixels(live.png()), _pixels(full.png())
        assert a.shape == b.shape
        assert (np.abs(a - b).max(axis=2) > 60).mean() < 0.002, steps
        assert live.plotted_now()[("teacher_adoption", CHOSEN)] == data[CHOSEN]["teacher_adoption"].iloc[-1]
    assert live.axes["teacher_adoption"].get_xlim()[1] >= 2.5


# -- export and command line ---------------------------------------------------------------------

def test_export_writes_the_comparison_with_provenance(tmp_path):
    s = Settings.from_values(seed=2, coaching=1.0, side_by_side=False, **SMALL)
    m = WorkshopModel(s)
    m.run(7)
    out = export_comparison(m, tmp_path)
    assert {p.name for p in out.iterdir()} == {"comparison.csv", "curves.png", "district.png", "adoption.png",
                                               "schools.png", "strain.png", "config.yaml", "config_baseline.yaml",
                                               "provenance.yaml", "status.txt"}
    df = pd.read_csv(out / "comparison.csv")
    chosen = df[df["run"] == CHOSEN].drop(columns=["run", "scenario", "seed", "when"]).reset_index(drop=True)
    base = df[df["run"] == REFERENCE].drop(columns=["run", "scenario", "seed", "when"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(chosen, simulate("baseline", seed=2, overrides=s.overrides()).iloc[:8],
                                  check_dtype=False)
    pd.testing.assert_frame_equal(base, simulate("baseline", seed=2, overrides=["district.schools=8"]).iloc[:8],
                                  check_dtype=False)
    meta = yaml.safe_load((out / "provenance.yaml").read_text())
    assert meta["seed"] == 2 and meta["steps"] == 7 and "git_revision" in meta and "packages" in meta
    assert meta["reproduce"] == "sim-app export scenario=baseline seed=2 schools=8 coaching=1 steps=7"
    assert (out / "status.txt").read_text().startswith(f"{CHOSEN}: {model_status(m)}")


def test_export_command_reproduces_the_button(tmp_path):
    s = Settings.from_values(seed=2, coaching=1.0, **SMALL)
    m = WorkshopModel(s)
    m.run(7)
    button = export_comparison(m, tmp_path / "button")
    args = yaml.safe_load((button / "provenance.yaml").read_text())["reproduce"].split()[2:]
    proc = subprocess.run([sys.executable, "-m", "sim.app", "export", *args, f"out={tmp_path / 'command'}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (command,) = (tmp_path / "command").iterdir()
    assert (command / "comparison.csv").read_text() == (button / "comparison.csv").read_text()


def test_bad_arguments_give_one_paragraph_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "sim.app", "port=http"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sim-app: Invalid value 'http' for 'port'") and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("args, words", [
    (["colour=red"], "Unknown argument 'colour=red'"),
    (["export", "seed=x"], "'seed'"),
    (["export", "steps=0"], "'steps'"),
    (["export", "scenario=atlantis"], "Unknown scenario 'atlantis'"),
])
def test_bad_arguments_in_process(args, words, capsys):
    with pytest.raises(SystemExit) as exc:
        app.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sim-app: ") and words in err
