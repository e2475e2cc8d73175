"""``sim-app``: the workshop what-if app, a Solara page around the Mesa model.

Facilitators pick a scenario preset and move the district's levers; the
district starts again by itself with those settings, side by side with the
``baseline`` preset at the same seed, so the difference is the policy, not
chance. The page shows the status in plain words (with the latest policy
event), a headline table (better/worse than the baseline), the district as a
picture and the curves with events marked and a band of what other seeds
give. The address holds the settings, so a link or a reload opens the same
run. "Download handout" gives a ZIP of figures, CSV and a one-page PDF.

Usage::

    sim-app [port=8765] [host=127.0.0.1]            # serve on http://127.0.0.1:<port>/
    sim-app export [scenario=..] [seed=..] [schools=..] [<lever path>=..] [steps=<months>] [out=results/app]

``python -m sim.app`` does the same. See docs/app.md.
"""

from __future__ import annotations

import html
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import solara

from sim.app.state import (
    BAND_SEEDS,
    BAND_TAIL,
    BASELINE,
    CHOSEN,
    HEADLINE,
    LEVER_BY_PATH,
    LEVERS,
    REFERENCE,
    Lever,
    Settings,
    WorkshopModel,
    event_line,
    events,
    export_comparison,
    export_name,
    export_zip,
    headline_values,
    judge,
    model_status,
    preset_text,
    preset_value,
    seed_band,
    settings_from_args,
    show_headline,
)
from sim.app.views import CHARTS, Chart, DistrictPicture
from sim.args import fail, parse, show_help, wants_help
from sim.config import ConfigError, available_scenarios, parameter_specs

DEFAULT_OUT = "results/app"
TITLE = "What if? Classroom innovation in a district"
SHORT_TITLE = "What if?"
#: Play speeds offered (school months per second); 0 is "as fast as the machine can".
SPEEDS = {"2 months/s": 2.0, "5 months/s": 5.0, "10 months/s": 10.0, "20 months/s": 20.0, "fastest": 0.0}
DEFAULT_SPEED = "10 months/s"


# -- the session -------------------------------------------------------------------------------------

class Session:
    """One browser tab's run: the model on show, a lock, and whether it plays.

    The play thread steps the model under ``lock``; the views read it under
    the same lock, so a frame never shows a half-stepped month.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.model: WorkshopModel | None = None
        #: Set when the page has drawn the last frame asked for: the play loop asks for the next one only then.
        self.drawn = threading.Event()
        self.drawn.set()


_BAND_POOL: ProcessPoolExecutor | None = None
_BAND_POOL_LOCK = threading.Lock()


def band_pool() -> ProcessPoolExecutor:
    """One worker process for the seed bands of every tab (so playing keeps a core to itself)."""
    global _BAND_POOL
    with _BAND_POOL_LOCK:
        if _BAND_POOL is None:
            import multiprocessing

            _BAND_POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),))
        return _BAND_POOL


def _exit_with_parent(parent: int) -> None:
    """In the band worker: exit when the app's process is gone (a killed server leaves no worker behind)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def play_loop(session: Session, speed: float, on_frame, cancel: threading.Event) -> None:
    """Step the model at ``speed`` school months a second (0: as fast as possible) until cancelled.

    Months fall due on a fixed schedule. A new frame is asked for
    (``on_frame``) only once the page has drawn the last one
    (``session.drawn``), and months keep falling due meanwhile: a slow
    redraw shows fewer frames, but the district still advances at ``speed``
    and the page never falls behind (Solara stops a page whose state changes
    during every render with "Too many renders").
    """
    start, done = time.perf_counter(), 0
    while not cancel.is_set():
        due = done + 1 if speed <= 0 else int((time.perf_counter() - start) * speed) + 1
        if due <= done:
            cancel.wait(max(0.0, (done / speed) - (time.perf_counter() - start)) if speed > 0 else 0.0)
            continue
        with session.lock:
            model = session.model
            if model is None:
                return
            while done < due and not cancel.is_set():
                model.step()
                done += 1
            steps = model.steps
        if session.drawn.is_set():
            session.drawn.clear()
            on_frame(steps)
        elif speed <= 0:
            cancel.wait(0.001)


def in_own_thread(on_frame):
    """``on_frame`` run in a new thread of this tab's kernel: the page renders there, so the play loop goes on."""
    from solara.server import kernel_context

    context = kernel_context.get_current_context() if kernel_context.has_current_context() else None

    def start(step: int) -> None:
        def run() -> None:
            if context is not None:
                kernel_context.set_context_for_thread(context, threading.current_thread())
            on_frame(step)

        threading.Thread(target=run, daemon=True).start()

    return start


# -- views -------------------------------------------------------------------------------------------

CSS = """
.sim-root { font-size: 15px; }
.sim-root .sim-bar { padding: 4px 10px; gap: 10px; align-items: center; flex-wrap: wrap;
  border-bottom: 1px solid #ddd; }
.sim-root .sim-title { font-size: 17px; font-weight: bold; margin-right: 6px; white-space: nowrap; }
.sim-root .sim-panel { width: 290px; min-width: 290px; max-height: calc(100vh - 64px); overflow-y: auto;
  padding: 6px 10px; border-right: 1px solid #ddd; }
.sim-root .sim-main { flex: 1; min-width: 0; padding: 4px 10px; }
.sim-root .sim-status-chosen { font-size: 17px; font-weight: bold; }
.sim-root .sim-status-baseline { font-size: 15px; }
.sim-root .sim-event { font-size: 16px; font-weight: bold; color: #8a3b00; }
.sim-root .sim-band-note { font-size: 13px; color: #444; }
.sim-root [class*="sim-value-"] { font-weight: bold; }
.sim-root .sim-lever .v-input__slot { margin-bottom: 0; }
.sim-root .sim-lever .v-messages { display: none; }
.sim-root table.sim-table { border-collapse: collapse; font-size: 14px; }
.sim-root table.sim-table td, .sim-root table.sim-table th { padding: 1px 8px; text-align: right; }
.sim-root table.sim-table td:first-child, .sim-root table.sim-table th:first-child { text-align: left; }
.sim-root table.sim-table td.sim-unit { text-align: left; color: #555; font-size: 12px; }
.sim-root .better { color: #0072b2; font-weight: bold; }
.sim-root .worse { color: #d55e00; font-weight: bold; }
.sim-root .sim-figures { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 6px;
  align-items: start; }
.sim-root .sim-figures img { width: 100%; height: auto; }
.sim-root .sim-scenario-title { font-weight: bold; font-size: 15px; }
.sim-root .sim-scenario-text { font-size: 13px; }
.sim-root .sim-passage, .sim-root .sim-scenario-sets { font-size: 12px; color: #333; margin: 2px 0; }
.sim-root .sim-passage { font-style: italic; }
.sim-root .sim-scenario-more { font-size: 12px; }
.sim-root .sim-scenario-more summary { cursor: pointer; color: #0b5cad; }
.sim-root .sim-bar .v-input { margin-top: 0; padding-top: 0; }
.sim-root .sim-bar .v-input__slot { margin-bottom: 0; }
.sim-root .sim-bar .v-text-field__details, .sim-root .sim-bar .v-messages { display: none; }
.solara-footer, footer { display: none !important; }
.sim-presenter .sim-panel { display: none !important; }
.sim-presenter { font-size: 19px; }
.sim-presenter .sim-status-chosen { font-size: 23px; }
.sim-presenter .sim-status-baseline { font-size: 19px; }
.sim-presenter .sim-event { font-size: 22px; }
.sim-presenter .sim-band-note { font-size: 16px; }
.sim-presenter table.sim-table { font-size: 19px; }
.sim-presenter table.sim-table td.sim-unit { font-size: 15px; }
.sim-presenter [class^="sim-caption-"] { display: none; }
@media (min-width: 1900px) { .sim-root .sim-figures img { max-height: none; } }
"""


def headline_html(model: WorkshopModel) -> str:
    """The headline table now: one unit per row; the difference says better or worse in words and colour."""
    runs = model.runs()
    values = [headline_values(m) for _, m in runs]
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in runs)
    head += "<th>difference</th>" if len(runs) > 1 else ""
    rows = []
    for key, label, unit, _ in HEADLINE:
        cells = "".join(f"<td>{show_headline(key, v[key])}</td>" for v in values)
        if len(runs) > 1:
            diff, verdict = judge(key, values[0][key] - values[1][key])
            word = "" if verdict == "same" else f" {verdict}"
            cells += f"<td class='{verdict}'>{diff}{word}</td>"
        rows.append(f"<tr data-metric='{key}'><td>{html.escape(label)}</td><td class='sim-unit'>{unit}</td>"
                    f"{cells}</tr>")
    return (f"<table class='sim-table'><tr><th></th><th class='sim-unit'>unit</th>{head}</tr>"
            f"{''.join(rows)}</table>")


def lever_text(lever: Lever, settings: Settings) -> str:
    """"Coaching: 0.5 FTE/school (preset)" or "... (moved; preset 0.5 FTE/school)"."""
    value = settings.value(lever.path)
    moved = lever.path in settings.moved()
    note = f"moved; {settings.scenario} has {lever.show(preset_value(settings.scenario, lever.path))}" if moved \
        else "as the preset"
    return f"{lever.label}: {lever.show(value)} ({note})"


@solara.component
def LeverControl(lever: Lever, settings: Settings, on_settings):
    """A lever with its value and unit in words above the control."""
    value = settings.value(lever.path)

    def set_value(v: Any) -> None:
        on_settings(settings.with_lever(lever.path, v))

    with solara.Column(gap="0px", classes=["sim-lever", f"sim-lever-{lever.name}"]):
        solara.Text(lever_text(lever, settings), classes=[f"sim-value-{lever.name}"])
        if lever.is_choice:
            solara.Select(label=lever.label, value=str(value), values=lever.values, on_value=set_value,
                          classes=[f"sim-input-{lever.name}"])
        elif lever.is_int:
            lo, hi = lever.bounds
            solara.SliderInt(lever.label_with_unit(), value=int(value), min=int(lo), max=int(hi),
                             step=int(lever.step), on_value=set_value)
        else:
            lo, hi = lever.bounds
            solara.SliderFloat(lever.label_with_unit(), value=float(value), min=lo, max=hi, step=lever.step,
                               on_value=set_value)


@solara.component
def ScenarioCard(settings: Settings):
    """The chosen preset named and explained in its own words, with what it sets."""
    text = preset_text(settings.scenario)
    more = "".join(f"<p class='sim-passage'>{html.escape(p)}</p>" for p in text.passages)
    if settings.scenario != BASELINE and text.sets:
        sets = ", ".join(f"{html.escape(_setting_label(k))} {html.escape(str(v))}" for k, v in text.sets)
        more += f"<p class='sim-scenario-sets'>It sets: {sets}.</p>"
    with solara.Column(gap="2px", classes=["sim-scenario"]):
        solara.Text(text.title, classes=["sim-scenario-title"])
        solara.Text(text.summary, classes=["sim-scenario-text"])
        if more:
            solara.HTML(tag="details", unsafe_innerHTML=f"<summary>From the report, and what it sets</summary>{more}",
                        classes=["sim-scenario-more"])


def _setting_label(path: str) -> str:
    lv = LEVER_BY_PATH.get(path)
    return (lv.label.lower() if lv else path.split(".")[-1].replace("_", " ")) + ":"


@solara.component
def Figures(session: Session, frame: int, band: Any, presenter: bool):
    """District picture and the three charts, redrawn each frame."""
    model = session.model
    picture = solara.use_memo(lambda: DistrictPicture(model.runs()), dependencies=[model])
    charts = solara.use_memo(lambda: {name: Chart(name, [label for label, _ in model.runs()], model.p.steps)
                                      for name in CHARTS}, dependencies=[model])
    with session.lock:  # copy the state into the figures' artists (fast) ...
        picture.update()
        data = {label: m.timeseries() for label, m in model.runs()}
        evs = events(model)
        for chart in charts.values():
            chart.update(data, band=band, events=evs)
    # ... and draw them without holding up the play loop (drawing is most of a frame's time).
    pngs = {"district": picture.png(), **{name: chart.png() for name, chart in charts.items()}}
    captions = {name: chart.caption() for name, chart in charts.items()}
    solara.use_effect(session.drawn.set)  # after every render: the page shows the latest frame
    with solara.Div(classes=["sim-figures"]):
        with solara.Column(gap="0px"):
            solara.Image(pngs["district"], classes=["sim-district"])
        for name in CHARTS:
            with solara.Column(gap="0px", classes=[f"sim-chart-{name}"]):
                solara.Image(pngs[name], classes=[f"sim-chart-image-{name}"])
                solara.Text(captions[name], classes=[f"sim-caption-{name}"], style={"font-size": "12px"})


def _initial(search: str | None) -> tuple[Settings, str | None]:
    try:
        return Settings.from_query(search), None
    except ConfigError as exc:
        return Settings(), f"The link's settings were not used: {exc}"


@solara.component
def Page():
    """The app page: one district per browser tab, its settings in the address."""
    router = solara.use_router()
    first = solara.use_memo(lambda: _initial(router.search), dependencies=[])
    settings, set_settings = solara.use_state(first[0])
    link_error, set_link_error = solara.use_state(first[1])
    session = solara.use_memo(Session, dependencies=[])
    playing, set_playing = solara.use_state(False)
    speed, set_speed = solara.use_state(DEFAULT_SPEED)
    presenter, set_presenter = solara.use_state(False)
    frame, set_frame = solara.use_state(0)

    # The address holds the settings (a reload or a shared link opens the same run): a change of settings
    # updates the address; a change of address (back/forward in the browser) updates the settings.
    shown = solara.use_ref(settings)

    def sync_address() -> None:
        settings_changed = shown.current != settings
        shown.current = settings
        if router.set_path is None:
            return
        search = router.search or ""
        if search == settings.query():
            return
        if not settings_changed and search:
            new, error = _initial(search)
            if error is None and new != settings:
                change(new)
                return
        router.push(f"{router.path or '/'}?{settings.query()}")

    solara.use_effect(sync_address, [settings, router.search])

    def change(new: Settings) -> None:
        set_playing(False)
        set_link_error(None)
        set_settings(new)

    # A change of settings starts the district again (in the background: a busy cue shows meanwhile).
    def build() -> WorkshopModel:
        model = WorkshopModel(settings)
        with session.lock:
            session.model = model
        return model

    built = solara.use_thread(build, dependencies=[settings], intrusive_cancel=False)
    model = built.value if built.state == solara.ResultState.FINISHED else None
    model = model if model is not None and model.settings == settings else None

    # What chance alone does: other seeds of the same settings and of the baseline, in a worker process.
    def band() -> Any:
        horizon = max(int(parameter_specs()["steps"].default), 1)
        if model is not None:
            horizon = int(model.p.steps)
        return band_pool().submit(seed_band, settings, horizon).result()

    band_result = solara.use_thread(band, dependencies=[settings], intrusive_cancel=False)
    band_frame = band_result.value if band_result.state == solara.ResultState.FINISHED else None

    def play(cancel: threading.Event) -> None:
        if playing and model is not None:
            play_loop(session, SPEEDS[speed], in_own_thread(set_frame), cancel)

    solara.use_thread(play, dependencies=[playing, model, speed], intrusive_cancel=False)

    def toggle_play() -> None:
        if playing and model is not None:
            with session.lock:
                set_frame(model.steps)  # the last month stepped is the one on show
        set_playing(not playing)

    def step_once() -> None:
        if model is None:
            return
        with session.lock:
            model.step()
            steps = model.steps
        set_frame(steps)

    with solara.Column(gap="0px", classes=["sim-root", *(["sim-presenter"] if presenter else [])]) as root:
        solara.Style(CSS)
        with solara.Row(classes=["sim-bar"]):
            solara.Text(SHORT_TITLE, classes=["sim-title"])
            solara.Select(label="Scenario", value=settings.scenario, values=available_scenarios(),
                          on_value=lambda name: change(settings.with_scenario(name)), classes=["sim-scenario-select"],
                          style={"max-width": "190px"})
            solara.InputInt("Seed", value=settings.seed,
                            on_value=lambda v: _safe(change, lambda: Settings.from_values(
                                **{**_query_dict(settings), "seed": v}), set_link_error),
                            classes=["sim-seed"], style={"max-width": "64px"})
            solara.InputInt("Schools", value=settings.schools,
                            on_value=lambda v: _safe(change, lambda: Settings.from_values(
                                **{**_query_dict(settings), "schools": v}), set_link_error),
                            classes=["sim-schools"], style={"max-width": "64px"})
            solara.Checkbox(label="Baseline", value=settings.side_by_side,
                            on_value=lambda v: change(Settings.from_values(**{**_query_dict(settings),
                                                                                "side_by_side": v})))
            solara.Button("Step", on_click=step_once, disabled=model is None or playing, color="primary",
                          outlined=True, classes=["sim-step"])
            solara.Button("Pause" if playing else "Play", on_click=toggle_play,
                          disabled=model is None, color="primary", classes=["sim-play"])
            solara.Select(label="Speed", value=speed, values=list(SPEEDS), on_value=set_speed,
                          classes=["sim-speed"], style={"max-width": "135px"})
            if model is not None:
                with solara.Div(classes=["sim-download"]):  # the button spins while the ZIP is made
                    solara.FileDownload(lambda: export_zip(model, band_frame), filename=f"{export_name(model)}.zip",
                                        label="Handout (ZIP)", mime_type="application/zip")
            with solara.Div(classes=["sim-presenter-toggle"]):
                solara.Checkbox(label="Presenter", value=presenter, on_value=set_presenter)
        with solara.Row(gap="0px", style={"align-items": "flex-start"}):
            with solara.Column(gap="8px", classes=["sim-panel"]):
                ScenarioCard(settings)
                solara.Text("Changing any control starts the district again from the beginning.",
                            style={"font-size": "12px", "font-style": "italic"})
                for lever in LEVERS:
                    LeverControl(lever, settings, change)
            with solara.Column(gap="4px", classes=["sim-main"]):
                if link_error:
                    solara.Error(link_error, classes=["sim-input-error"])
                if model is None:
                    solara.ProgressLinear(True)
                    solara.Text(f"Starting a district of {settings.schools} schools with these settings ...",
                                classes=["sim-busy"])
                else:
                    Status(session, frame, band_result.state, presenter)
                    Figures(session, frame, band_frame, presenter)
    return root


@solara.component
def Status(session: Session, frame: int, band_state: Any, presenter: bool):
    """Status lines in plain words, the latest event, and the headline table."""
    model = session.model
    with session.lock:
        chosen = f"{CHOSEN.capitalize()}: {model_status(model)}"
        base = f"{REFERENCE.capitalize()}: {model_status(model.baseline)}" if model.baseline is not None else None
        event = event_line(model)
        table = headline_html(model)
    with solara.Row(gap="16px", style={"align-items": "flex-start", "flex-wrap": "wrap"}):
        with solara.Column(gap="2px", style={"flex": "1 1 380px", "min-width": "0"}):
            solara.Text(chosen, classes=["sim-status-chosen"])
            if base is not None:
                solara.Text(base, classes=["sim-status-baseline"])
            elif model.settings.is_baseline():
                solara.Text("These settings are the baseline: nothing to compare side by side.",
                            classes=["sim-status-note"])
            if event:
                solara.Text(f"Latest event: {event}", classes=["sim-event"])
            if band_state == solara.ResultState.FINISHED:
                solara.Text(f"Shaded: the middle {1 - 2 * BAND_TAIL:.0%} of {BAND_SEEDS} other seeds (what chance "
                            "alone changes).", classes=["sim-band-note"])
            else:
                with solara.Row(gap="6px", style={"align-items": "center"}):
                    solara.v.ProgressCircular(indeterminate=True, size=16, width=2)
                    solara.Text(f"Running {BAND_SEEDS} other seeds for the chance band ...",
                                classes=["sim-band-note", "sim-band-busy"])
        solara.HTML(tag="div", unsafe_innerHTML=table, classes=["sim-headline"])


def _query_dict(settings: Settings) -> dict[str, str]:
    import urllib.parse

    return dict(urllib.parse.parse_qsl(settings.query()))


def _safe(apply, make, on_error) -> None:
    try:
        apply(make())
    except ConfigError as exc:
        on_error(str(exc))


page = Page


# -- command line --------------------------------------------------------------------------------

HELP = """
Usage: sim-app [port=8765] [host=127.0.0.1]
       sim-app export [scenario=PRESET] [seed=N] [schools=N] [LEVER=value ...] [steps=MONTHS] [out=DIR]

Serves the workshop what-if app on http://<host>:<port>/ (port=0 picks a free
port). It answers this machine only (127.0.0.1) unless host= gives this
machine's address on the room's network. The page's address holds the
settings (?scenario=...&seed=...&schools=...&policy.coaching_fte=...), so a
link opens the same run. 'sim-app export ...' saves the handout (figures, CSV,
one-page PDF, provenance) without a browser.

Levers (dotted key or short name): """ + ", ".join(f"{lv.path} ({lv.name})" for lv in LEVERS) + """
Scenario presets: {presets}

Example:
  sim-app export scenario=henry_all_in policy.coaching_fte=1 steps=50 out=results/handout

The levers' ranges and sources: {parameters}; the app: docs/app.md.
"""


def _parse_options(args: Sequence[str], allowed: Sequence[str]) -> dict[str, str]:
    return parse("sim-app", args, allowed, model=False).tool


def export_command(args: Sequence[str]) -> Path:
    """``sim-app export ...``: run settings and baseline ``steps`` months (default: config ``steps``), save."""
    settings, rest = settings_from_args(args)
    opts = _parse_options([f"{k}={v}" for k, v in rest.items()], ("steps", "out"))
    steps = None
    if "steps" in opts:
        lo, hi = parameter_specs()["steps"].range
        if not opts["steps"].isdigit() or not lo <= int(opts["steps"]) <= hi:
            raise ConfigError(f"Invalid value '{opts['steps']}' for 'steps': allowed is a whole number in "
                              f"[{int(lo)}, {int(hi)}] (months; default: the scenario's run length).")
        steps = int(opts["steps"])
    model = WorkshopModel(settings)
    model.run(steps)
    return export_comparison(model, opts.get("out", DEFAULT_OUT))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point of ``sim-app``."""
    from sim.app import server

    args = list(sys.argv[1:] if argv is None else argv)
    if wants_help(args):
        show_help(HELP)
    try:
        if args and args[0] == "export":
            out = export_command(args[1:])
            print(f"sim-app: saved {out}/")
            return
        opts = _parse_options(args, ("port", "host"))
        host = server.check_host(opts.get("host", server.HOST))
        port = server.check_port(host, opts.get("port", str(server.DEFAULT_PORT)))
    except ConfigError as exc:
        fail("sim-app", exc)
    server.serve(host, port)


if __name__ == "__main__":
    main()
