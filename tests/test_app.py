"""Fast tests of the workshop app (sim.app): settings and address, plain words, events, views, export,
the play loop, the server's guard and the command line. No browser."""

from __future__ import annotations

import asyncio
import io
import itertools
import subprocess
import sys
import threading
import urllib.parse
import zipfile

import colour
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets
import yaml
from matplotlib.colors import to_rgb

import sim.app.page as app
from sim import load_config, simulate
from sim.app import server
from sim.app.state import (
    CHOSEN,
    HEADLINE,
    LEVERS,
    REFERENCE,
    ConfigError,
    Settings,
    WorkshopModel,
    copied_model_schools,
    event_line,
    events,
    export_comparison,
    export_files,
    export_zip,
    headline_values,
    judge,
    model_status,
    preset_text,
    preset_value,
    settings_from_args,
    status_line,
    when,
)
from sim.app.views import STAGE_COLORS, STAGE_WORDS, Chart
from sim.config import REPO_ROOT, available_scenarios, parameter_specs

SMALL = {"schools": 8}  # small districts keep these tests fast


def texts(rc, cls: str) -> list[str]:
    """Text of the (vuetify) widgets carrying a CSS class in a solara render."""
    return ["".join(c for c in w.children if isinstance(c, str)) for w in rc.find(class_=cls).widgets]


# -- settings and the address --------------------------------------------------------------------

def test_levers_are_config_parameters_within_their_documented_range():
    specs = parameter_specs()
    for lever in LEVERS:
        spec = specs[lever.path]
        if lever.is_choice:
            assert lever.values == [str(c) for c in spec.choices]
        else:
            lo, hi = lever.bounds
            assert spec.range[0] <= lo < hi <= spec.range[1]
            assert lever.unit() in lever.label_with_unit()


@pytest.mark.parametrize("scenario", ["henry_all_in", "lake_backing_away", "key_person_km"])
def test_levers_show_the_presets_values_and_follow_a_new_preset(scenario):
    s = Settings.from_values(scenario="baseline", seed=4, coaching=1.5)
    assert s.value("policy.coaching_fte") == 1.5 and s.moved() == {"policy.coaching_fte": 1.5}
    chosen = s.with_scenario(scenario)
    cfg = load_config(scenario)
    assert chosen.seed == 4 and chosen.moved() == {}
    for lever in LEVERS:  # every lever now shows what the preset runs with
        section, key = lever.path.split(".")
        assert chosen.value(lever.path) == cfg[section][key]
    # Moving a lever back to the preset's value is no change.
    goal = preset_value(scenario, "policy.goal_clarity")
    assert chosen.with_lever("policy.goal_clarity", 0.95).with_lever("policy.goal_clarity", goal) == chosen


def test_the_address_round_trips_the_settings_with_dotted_lever_keys():
    s = Settings.from_query("scenario=henry_all_in&seed=3&schools=12&policy.goal_clarity=0.9&knowledge.mode=none")
    assert (s.scenario, s.seed, s.schools) == ("henry_all_in", 3, 12)
    assert s.moved() == {"knowledge.mode": "none", "policy.goal_clarity": 0.9}
    assert s.overrides() == ["district.schools=12", "knowledge.mode=none", "policy.goal_clarity=0.9"]
    assert dict(urllib.parse.parse_qsl(s.query()))["policy.goal_clarity"] == "0.9"
    assert Settings.from_query(s.query()) == s
    # A lever given at the preset's own value is not a change (the address stays short).
    assert Settings.from_query("scenario=henry_all_in&policy.goal_clarity=0.8").moved() == {}
    again, rest = settings_from_args(s.as_args() + ["steps=5"])
    assert again == s and rest == {"steps": "5"}


@pytest.mark.parametrize("query, field", [
    ("seed=abc", "seed"), ("seed=-1", "seed"), ("schools=0", "schools"), ("schools=201", "schools"),
    ("policy.coaching_fte=9", "policy.coaching_fte"), ("knowledge.mode=wiki", "knowledge.mode"),
    ("scenario=nope", "scenario"), ("colour=1", "colour"),
])
def test_bad_settings_are_refused_with_the_field_and_allowed_values(query, field):
    with pytest.raises(ConfigError, match=field) as exc:
        Settings.from_query(query)
    assert "allowed" in str(exc.value).lower()


# -- plain words ---------------------------------------------------------------------------------

def test_every_preset_is_named_and_explained_from_its_own_file():
    for name in available_scenarios():
        text = preset_text(name)
        assert text.title and text.title[0].isupper() and not text.title.endswith("."), name
        assert text.summary.endswith(".") or text.passages, name  # explained beyond its title
        assert all(p.startswith('"') for p in text.passages), name
    henry = preset_text("henry_all_in")
    assert henry.title == "Henry County, Georgia, the report's \"all in\" district"
    assert "knowledge-management plan" in henry.summary and "go 'all in'" in henry.passages[0]
    assert ("policy.goal_clarity", 0.8) in henry.sets


def test_headline_rows_have_one_unit_and_say_better_or_worse():
    assert len({key for key, *_ in HEADLINE}) == len(HEADLINE)
    assert judge("teacher_adoption", 4.2) == ("+4.2", "better")
    assert judge("equity_gap", 0.14) == ("+0.140", "worse")
    assert judge("stalled", -3) == ("-3", "better")
    assert judge("schoolwide", 0) == ("0", "same")


@pytest.mark.parametrize("deficiency", ["Protanomaly", "Deuteranomaly"])
def test_stage_colours_stay_apart_for_colour_blind_viewers(deficiency):
    # Full protanopia / deuteranopia (Machado et al. 2009), distance in CIEDE2000: 10 is clearly different.
    matrix = colour.blindness.matrix_cvd_Machado2009(deficiency, 1.0)

    def seen(hex_colour: str) -> np.ndarray:
        linear = colour.models.eotf_sRGB(np.array(to_rgb(hex_colour))) @ matrix.T
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(colour.models.eotf_inverse_sRGB(np.clip(linear, 0, 1))))

    distances = {(STAGE_WORDS[a], STAGE_WORDS[b]): colour.delta_E(seen(STAGE_COLORS[a]), seen(STAGE_COLORS[b]),
                                                                  method="CIE 2000")
                 for a, b in itertools.combinations(STAGE_COLORS, 2)}
    assert min(distances.values()) > 10, min(distances.items(), key=lambda kv: kv[1])


# -- model, events, status line ------------------------------------------------------------------

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


@pytest.mark.parametrize("schools", [8, 30])
def test_events_are_read_from_the_models_state(schools):
    lake = WorkshopModel(Settings.from_values(scenario="lake_backing_away", seed=1, schools=schools))
    lake.run(60)  # the model decides when the district backs away; the event is read from its state
    backaway = int(lake.office.backaway_step)
    assert backaway >= 0, "Lake County backs away within six school years"
    (withdrawal,) = [e for e in events(lake) if e.kind == "withdrawal"]
    assert withdrawal.step == backaway
    starts = sorted({int(t) for t in lake.schools_state.implement_step[lake.schools_state.cohort >= 0]})
    assert [e.step for e in events(lake) if e.kind == "cohort"] == [max(t, 0) for t in starts if t <= lake.steps]
    early = WorkshopModel(Settings.from_values(scenario="lake_backing_away", seed=1, schools=schools))
    early.run(backaway)
    assert event_line(early).startswith(f"{when(backaway)}: ") and "the district backs away" in event_line(early)
    early_minus = WorkshopModel(Settings.from_values(scenario="lake_backing_away", seed=1, schools=schools))
    early_minus.run(backaway - 1)
    assert not [e for e in events(early_minus) if e.kind == "withdrawal"]

    km = WorkshopModel(Settings.from_values(scenario="key_person_km", seed=2, schools=schools))
    km.run(int(load_config("key_person_km").knowledge.key_person_departure_step) + 1)
    (left,) = [e for e in events(km) if e.kind == "key_person"]
    assert left.step == km.office.key_person_left_step >= 0


def test_schools_taking_up_another_schools_model_are_events():
    m = WorkshopModel(Settings.from_values(scenario="henry_all_in", seed=3, schools=30))
    m.run(60)
    imported = [e for e in events(m) if e.kind == "imported"]
    assert imported, "Henry County's later cohorts take up cohort 1's models within five years at this seed"
    reps = {int(r["step"]): int(r["replications"]) for r in m.history}
    assert [e.step for e in imported] == [t for t in sorted(reps) if t > 0 and reps[t] > reps[t - 1]]
    assert all(e.text.endswith(f"another school's model ({reps[e.step]} in all)") for e in imported)
    assert imported[-1].step <= m.steps and copied_model_schools(m) == reps[m.steps]


def test_codifications_are_events_and_copies_match_the_picture():
    m = WorkshopModel(Settings.from_values(scenario="henry_all_in", seed=3, schools=30))
    m.run(60)
    codified = [e for e in events(m) if e.kind == "codified"]
    assert codified, "Henry County codifies models within five years at this seed"
    assert sorted({e.step for e in codified}) == sorted(set(m.registry.step))
    assert codified[-1].text.endswith(f"({len(m.registry.step)} in all)")
    s = m.schools_state
    origin = np.asarray(m.registry.origin, dtype=int)
    assert copied_model_schools(m) == sum(1 for i in range(m.n_schools) if s.model[i] >= 0
                                          and origin[s.model[i]] != i)
    values = headline_values(m)
    assert values["schoolwide"] == round(m.latest["schoolwide_share"] * 30)


# -- page ----------------------------------------------------------------------------------------

def all_text(widget) -> str:
    """All text inside a widget."""
    if isinstance(widget, str):
        return widget
    return " ".join(all_text(c) for c in getattr(widget, "children", []))


def _render(search: str):
    el = solara.RoutingProvider(children=[app.Page()], routes=[solara.Route("/")], pathname=f"/?{search}")
    return solara.render(el, handle_error=False)


def _wait_for(rc, cls: str):
    import time

    deadline = time.monotonic() + 120
    while not rc.find(class_=cls).widgets:
        assert time.monotonic() < deadline, f"{cls} never appeared"
        time.sleep(0.05)


def test_page_opens_the_run_of_its_address_and_shows_every_lever():
    box, rc = _render("scenario=henry_all_in&seed=3&schools=8&policy.coaching_fte=1.5")
    try:
        _wait_for(rc, "sim-status-chosen")
        assert texts(rc, "sim-status-chosen")[0].startswith("Your settings: Before year 1: 0 of 8 schools")
        assert texts(rc, "sim-value-coaching") == ["Coaching: 1.5 FTE/school (moved; henry_all_in has 0.5 "
                                                   "FTE/school)"]
        assert texts(rc, "sim-value-goal_clarity") == ["Goal clarity: 0.8 on a 0-1 scale (as the preset)"]
        assert texts(rc, "sim-value-knowledge") == ["Knowledge management: plan (as the preset)"]
        assert texts(rc, "sim-scenario-title") == ["Henry County, Georgia, the report's \"all in\" district"]
        (nav,) = rc.find(solara.widgets.Navigator).widgets
        assert nav.location == "/?scenario=henry_all_in&seed=3&schools=8&policy.coaching_fte=1.5"
    finally:
        rc.close()


def test_a_bad_address_says_why_and_runs_the_defaults():
    box, rc = _render("seed=12x&schools=8")
    try:
        _wait_for(rc, "sim-status-chosen")
        assert "seed" in all_text(rc.find(class_="sim-input-error").widget)
        assert texts(rc, "sim-status-chosen")[0].startswith("Your settings: Before year 1: 0 of 50 schools")
    finally:
        rc.close()


def test_play_keeps_stepping_while_the_page_draws_and_asks_for_one_frame_at_a_time():
    session = app.Session()
    session.model = WorkshopModel(Settings.from_values(**SMALL))
    frames: list[int] = []
    cancel = threading.Event()

    def on_frame(step: int) -> None:
        frames.append(step)
        if len(frames) == 3:
            cancel.set()
        # the page "draws" frames 1 and 2 only once the model has moved on by several months
        threading.Thread(target=lambda: (wait_until(lambda: session.model.steps >= step + 5),
                                         session.drawn.set())).start()

    def wait_until(cond) -> None:
        while not cond() and not cancel.is_set():
            threading.Event().wait(0.001)

    loop = threading.Thread(target=app.play_loop, args=(session, 0.0, on_frame, cancel))
    loop.start()
    loop.join(120)
    assert not loop.is_alive() and len(frames) == 3
    assert frames[1] >= frames[0] + 5 and frames[2] >= frames[1] + 5, frames  # months ran on between frames


def test_blitted_frames_match_a_full_redraw_with_band_and_events():
    from PIL import Image

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)

    m = WorkshopModel(Settings.from_values(scenario="lake_backing_away", **SMALL))
    labels = [label for label, _ in m.runs()]
    band = pd.DataFrame({"run": [CHOSEN] * 31 + [REFERENCE] * 31, "step": list(range(31)) * 2,
                         "teacher_adoption_lo": 0.01, "teacher_adoption_hi": 0.2,
                         "deep_adoption_lo": 0.0, "deep_adoption_hi": 0.05})
    live = Chart("adoption", labels, horizon_steps=20)
    for steps in (5, 30):  # 30 steps outgrow the 2-year axis, and the district backs away in month 25
        m.run(steps - m.steps)
        data = {label: mm.timeseries() for label, mm in m.runs()}
        live.update(data, band=band, events=events(m))
        full = Chart("adoption", labels, horizon_steps=20, animated=False)
        full.update(data, band=band, events=events(m))
        a, b = pixels(live.png()), pixels(full.png())
        assert a.shape == b.shape
        assert (np.abs(a - b).max(axis=2) > 60).mean() < 0.002, steps
    assert any(t.get_text().strip() == "backs away" for t in live.axes["teacher_adoption"].texts)


# -- export --------------------------------------------------------------------------------------

def test_export_is_a_zip_of_labelled_figures_csv_pdf_and_provenance():
    s = Settings.from_values(scenario="lake_backing_away", seed=2, **SMALL)
    m = WorkshopModel(s)
    m.run(27)
    files = export_files(m)
    assert set(files) == {"comparison.csv", "handout.pdf", "district.png", "adoption.png", "schools.png",
                          "strain.png", "curves.png", "config.yaml", "config_baseline.yaml", "provenance.yaml",
                          "status.txt"}
    df = pd.read_csv(io.BytesIO(files["comparison.csv"]))
    chosen = df[df["run"] == CHOSEN].drop(columns=["run", "scenario", "seed", "when"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(chosen, simulate("lake_backing_away", seed=2, overrides=s.overrides()).iloc[:28],
                                  check_dtype=False)
    meta = yaml.safe_load(files["provenance.yaml"])
    assert meta["seed"] == 2 and meta["steps"] == 27 and "git_revision" in meta
    assert meta["reproduce"] == "sim-app export scenario=lake_backing_away seed=2 schools=8 steps=27"
    pdf = files["handout.pdf"]
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + \
        pdf.count(b"/Type /Page>") == 1
    for name in ("district.png", "adoption.png"):
        assert files[name][:8] == b"\x89PNG\r\n\x1a\n"
    assert files["status.txt"].decode().startswith(f"{CHOSEN}: {model_status(m)}")
    with zipfile.ZipFile(io.BytesIO(export_zip(m))) as zf:
        assert set(zf.namelist()) == set(files)
        assert zf.read("comparison.csv") == files["comparison.csv"]


def test_export_command_reproduces_the_download(tmp_path):
    s = Settings.from_values(seed=2, coaching=1.0, **SMALL)
    m = WorkshopModel(s)
    m.run(7)
    button = export_comparison(m, tmp_path / "button")
    args = yaml.safe_load((button / "provenance.yaml").read_text())["reproduce"].split()[2:]
    proc = subprocess.run([sys.executable, "-m", "sim.app", "export", *args, f"out={tmp_path / 'command'}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (command,) = (tmp_path / "command").iterdir()
    assert (command / "comparison.csv").read_text() == (button / "comparison.csv").read_text()


# -- the server's guard --------------------------------------------------------------------------

def _call(app_, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app_(scope, receive, send))
    return sent


def test_guard_refuses_foreign_hosts_and_origins_and_passes_its_own():
    passed: list[dict] = []

    async def inner(scope, receive, send) -> None:
        passed.append(scope)

    guarded = server.guard(inner, server.allowed_hosts("127.0.0.1", 8765))

    def scope(kind: str, host: str, origin: str | None = None) -> dict:
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return {"type": kind, "path": "/", "headers": headers}

    assert _call(guarded, scope("http", "127.0.0.1:8765")) == [] and len(passed) == 1
    assert _call(guarded, scope("websocket", "localhost:8765", "http://localhost:8765")) == [] and len(passed) == 2
    refused = _call(guarded, scope("http", "attacker.example:8765"))
    assert refused[0]["status"] == 400
    for origin in ("http://attacker.example", "http://127.0.0.1:9999", None):
        assert _call(guarded, scope("websocket", "127.0.0.1:8765", origin)) == [{"type": "websocket.close",
                                                                                 "code": 1008}]
    assert len(passed) == 2


# -- command line --------------------------------------------------------------------------------

def test_bad_arguments_give_one_paragraph_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "sim.app", "port=http"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sim-app: Invalid value 'http' for 'port'") and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("args, words", [
    (["colour=red"], "Unknown setting 'colour'"),
    (["host=0.0.0.0"], "'host'"),
    (["host=example.org"], "'host'"),
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
