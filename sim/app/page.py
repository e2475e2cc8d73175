"""``sim-app``: the workshop what-if app, a Mesa SolaraViz page in the browser.

Facilitators pick a scenario preset, move the district's levers, press Reset
to start a district with those settings, then Step or Play. The page shows
the district as a picture, the adoption curves, school-wide schools and
replicated models, exhaustion and the equity gap, and a status line in plain
words; side by side with the ``baseline`` preset at the same seed, so the
difference is the policy, not chance. "Save comparison" writes PNG figures,
a CSV and provenance under ``results/app/``.

Usage::

    sim-app [port=8765] [out=results/app]          # serve on http://127.0.0.1:<port>/
    sim-app export [scenario=..] [seed=..] [schools=..] [<lever>=..] [steps=<months>] [out=results/app]

``python -m sim.app`` does the same. The page itself is ``Page`` (``solara run
sim.app.page`` also serves it). See docs/app.md.
"""

from __future__ import annotations

import html
import os
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import solara

# mesa 3.3.1's own ComponentsView trips solara's hook checker at import; harmless, but noise for users.
warnings.filterwarnings("ignore", message=r".*ComponentsView: `use_state` found despite early return")
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from sim.app.state import (  # noqa: E402
    CHOICES,
    CHOSEN,
    LEVERS,
    MAX_APP_SCHOOLS,
    REFERENCE,
    SCHOOLS_PATH,
    Settings,
    WorkshopModel,
    export_comparison,
    model_status,
    settings_from_args,
)
from sim.app.views import CHARTS, Chart, DistrictPicture, fmt_value, is_share  # noqa: E402
from sim.config import ConfigError, available_scenarios, parameter_specs  # noqa: E402
from sim.exits import EXIT_BAD_INPUT  # noqa: E402
from sim.runs.plots import LABELS  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_OUT = "results/app"
OUT_ENV = "SIM_APP_OUT"
TITLE = "What if? Classroom innovation in a district"
#: Milliseconds between steps while playing (the sidebar slider changes it live).
PLAY_INTERVAL_MS = 20
#: Longest a step waits (seconds) for the page to draw the last redraw asked for; a closed tab never does.
FRAME_WAIT_S = 2.0
HEADLINE = ("teacher_adoption", "deep_adoption", "schoolwide_share", "pilot_stall_share", "replicated_models",
            "mean_exhaustion", "equity_gap")


# -- controls ------------------------------------------------------------------------------------

def model_params() -> dict[str, dict[str, Any]]:
    """SolaraViz ``model_params``: every control, labelled in plain words with its unit.

    Ranges come from ``scenarios/config.yaml`` (:func:`sim.config.parameter_specs`);
    the scenario list is read now, so every preset in ``scenarios/scenario/`` is offered.
    """
    specs = parameter_specs()
    params: dict[str, dict[str, Any]] = {
        "scenario": {"type": "Select", "value": "baseline", "values": available_scenarios(),
                     "label": "Scenario preset (moved levers override it)"},
        "side_by_side": {"type": "Checkbox", "value": True, "label": "Side by side with baseline, same seed"},
        "seed": {"type": "InputText", "value": "0", "label": "Seed (whole number)"},
        "schools": {"type": "SliderInt", "value": int(specs[SCHOOLS_PATH].default),
                    "min": int(specs[SCHOOLS_PATH].range[0]), "max": MAX_APP_SCHOOLS, "step": 1,
                    "label": "District size (schools)"},
    }
    for lever in LEVERS:
        lo, hi = lever.bounds
        params[lever.name] = {"type": "SliderInt" if lever.is_int else "SliderFloat", "value": lever.spec.default,
                              "min": lo, "max": hi, "step": lever.step, "label": lever.label_with_unit()}
    for choice in CHOICES:
        params[choice.name] = {"type": "Select", "value": choice.values[0], "values": choice.values,
                               "label": choice.label}
    return params


class AppModel(WorkshopModel):
    """What SolaraViz instantiates on Reset: a :class:`WorkshopModel` that never fails on input.

    Bad control input (e.g. a seed that is not a whole number) builds the
    default settings instead and keeps the reason in ``input_error``, which the
    page shows in red above the status, rather than a traceback.
    """

    def __init__(self, **kwargs: Any) -> None:  # named kwargs: SolaraViz checks parameters by name
        self.input_error: str | None = None
        self._drawn = threading.Condition()
        #: The last redraw request (Mesa's ``update_counter``) the page has drawn; none is pending at the start.
        self.drawn_update = update_counter.peek()
        try:
            settings = Settings.from_values(**kwargs)
        except ConfigError as exc:
            self.input_error = f"{exc} Running the default settings instead; fix the input and press Reset."
            settings = Settings()
        super().__init__(settings)

    def frame_drawn(self, update: int) -> None:
        """Record that the page has drawn redraw request ``update`` (called by :func:`use_frame_drawn`)."""
        with self._drawn:
            self.drawn_update = max(self.drawn_update, update)
            self._drawn.notify_all()

    def step(self) -> None:
        """One school month, once the page has drawn the last redraw asked for (or after ``FRAME_WAIT_S``).

        Mesa's Play loop steps every ``play_interval`` and asks for a redraw
        (``force_update``) without waiting for it. When a redraw takes longer
        than that (a busy machine), the thread that draws finds new state after
        every pass and solara stops the page with "Too many renders". Waiting
        here keeps the model at most one redraw ahead of the page, whatever the
        machine's speed; steps between two redraws (*Render Interval* > 1, or
        stepping without a page) do not wait.
        """
        with self._drawn:
            self._drawn.wait_for(lambda: self.drawn_update >= update_counter.peek(), timeout=FRAME_WAIT_S)
        super().step()


def use_frame_drawn(model: WorkshopModel) -> None:
    """Hook of each page's first view: tell an :class:`AppModel` which redraw request the page now shows."""
    update = update_counter.peek()

    def drawn() -> None:
        if isinstance(model, AppModel):
            model.frame_drawn(update)

    solara.use_effect(drawn, [model, update])


# -- views ---------------------------------------------------------------------------------------

def _runs_series(model: WorkshopModel):
    return {label: m.timeseries() for label, m in model.runs()}


def _difference(metric: str, a: float, b: float) -> str:
    d = a - b
    if is_share(metric):
        return f"{100 * d:+.1f} pts"
    return f"{d:+.3f}" if metric == "equity_gap" else f"{d:+.0f}"


def headline_html(model: WorkshopModel) -> str:
    """Table of the headline metrics now: your settings, baseline, difference."""
    runs = model.runs()
    head = "".join(f"<th>{label}</th>" for label, _ in runs) + ("<th>difference</th>" if len(runs) > 1 else "")
    rows = []
    for metric in HEADLINE:
        vals = [float(m.latest[metric]) for _, m in runs]
        cells = "".join(f"<td>{fmt_value(metric, v)}</td>" for v in vals)
        if len(runs) > 1:
            cells += f"<td>{_difference(metric, vals[0], vals[1])}</td>"
        rows.append(f"<tr data-metric='{metric}'><td>{LABELS[metric]}</td>{cells}</tr>")
    style = ("<style>.sim-table td,.sim-table th{padding:1px 8px;text-align:right;font-size:13px}"
             ".sim-table td:first-child{text-align:left}</style>")
    return f"{style}<table class='sim-table'><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def settings_text(model: WorkshopModel) -> str:
    """The settings of the run on show: preset, seed, size, and each lever's value in effect."""
    s, p = model.settings, model.p
    moved = s.moved()

    def value(path: str) -> Any:
        node: Any = p
        for part in path.split("."):
            node = getattr(node, part)
        return node

    parts = []
    for lever in LEVERS:
        unit = "" if lever.unit() == "0-1" else f" {lever.unit()}"
        parts.append(f"{lever.label.lower()} {value(lever.path):g}{unit}" + (" (moved)" if lever.name in moved else ""))
    for choice in CHOICES:
        parts.append(f"{choice.label.lower()}: {value(choice.path)}" + (" (moved)" if choice.name in moved else ""))
    b = p.backaway
    if not b.enabled:
        backaway = "this district never backs away, so patience has no effect"
    else:
        backaway = (f"once schools implement, the district reviews results every {b.review_every} months; a review "
                    f"is unsatisfied if fewer than {b.min_adoption:.0%} of initiative teachers use the practice or "
                    f"the implementation dip exceeds {b.dip_tolerance:g}; it backs away after {b.grace_steps} months "
                    f"of unsatisfied reviews (patience), less under a new leader")
    return (f"Scenario {s.scenario}, seed {s.seed}, {s.schools} schools of {p.district.teachers_per_school} "
            f"teachers. In effect: {'; '.join(parts)}. Backing away: {backaway}.")


#: Every view fills its grid cell and scrolls inside it; pictures shrink to fit rather than overflow.
FIT_CSS = """
.sim-fit { height: 100%; overflow: auto; }
.sim-fit img { max-width: 100%; max-height: calc(100% - 22px); width: auto; height: auto; object-fit: contain; }
"""


def status_view(model: WorkshopModel):
    """Status in plain words, headline numbers next to the baseline, and the export button."""
    use_frame_drawn(model)
    saved, set_saved = solara.use_state("")
    root = os.environ.get(OUT_ENV, DEFAULT_OUT)

    def save() -> None:
        try:
            out = export_comparison(model, root)
            set_saved(f"Saved {out} (comparison.csv, PNG figures, provenance.yaml)")
        except OSError as exc:
            set_saved(f"Could not save under {root}: {exc}")

    with solara.Column(classes=["sim-status", "sim-fit"], gap="6px", style={"padding": "4px"}) as col:
        solara.Style(FIT_CSS)
        if getattr(model, "input_error", None):
            solara.Error(model.input_error, classes=["sim-input-error"])
        solara.Text(f"{CHOSEN.capitalize()}: {model_status(model)}", classes=["sim-status-chosen"],
                    style={"font-weight": "bold", "font-size": "15px"})
        if model.baseline is not None:
            solara.Text(f"{REFERENCE.capitalize()}: {model_status(model.baseline)}", classes=["sim-status-baseline"],
                        style={"font-size": "14px"})
        elif model.settings.side_by_side and model.settings.is_baseline():
            solara.Text("These settings are the baseline: nothing to compare side by side.",
                        classes=["sim-status-note"])
        solara.HTML(tag="div", unsafe_innerHTML=headline_html(model), classes=["sim-headline"])
        with solara.Row(gap="8px", style={"align-items": "center"}):
            solara.Button("Save comparison (PNG + CSV)", on_click=save, color="primary", outlined=True,
                          classes=["sim-export"])
            if saved:
                solara.Text(saved, classes=["sim-export-result"], style={"font-size": "12px"})
    return col


def settings_view(model: WorkshopModel):
    """The settings of the run on show, and how to change them."""
    with solara.Column(classes=["sim-fit"], gap="6px", style={"padding": "4px"}) as col:
        solara.Text("Move the controls, then press Reset to start a district with them; Step and Play advance "
                    "it one school month at a time (10 months a year). Page 1 explains every control.",
                    style={"font-size": "13px", "font-style": "italic"})
        solara.Text(settings_text(model), classes=["sim-settings"], style={"font-size": "13px"})
    return col


def district_view(model: WorkshopModel):
    """The district picture of each run, redrawn each frame."""
    picture = solara.use_memo(lambda: DistrictPicture(model.runs()), dependencies=[model])
    picture.update()
    with solara.Column(classes=["sim-fit"], gap="0px", style={"align-items": "center"}) as col:
        solara.Image(picture.png(), classes=["sim-district"])
    return col


def chart_view(name: str) -> Callable[[WorkshopModel], Any]:
    """A view of one chart of :data:`sim.app.views.CHARTS` with a caption of its current values."""

    def view(model: WorkshopModel):
        chart = solara.use_memo(lambda: Chart(name, [label for label, _ in model.runs()], model.p.steps),
                                dependencies=[model])
        chart.update(_runs_series(model))
        with solara.Column(classes=[f"sim-chart-{name}", "sim-fit"], gap="0px",
                           style={"align-items": "center"}) as col:
            solara.Image(chart.png(), classes=[f"sim-chart-image-{name}"])
            solara.Text(chart.caption(), classes=[f"sim-caption-{name}"], style={"font-size": "12px"})
        return col

    view.__name__ = f"{name}_view"
    return view


def guide_html() -> str:
    """What every control means, with unit, range and source, read from ``scenarios/config.yaml``."""
    rows = [("Scenario preset", "A policy preset from scenarios/scenario/ (the baseline is the report's typical "
             "district). Levers left at their starting mark keep the preset's value; a moved lever overrides it.",
             "", ", ".join(available_scenarios()), "scenarios/scenario/*.yaml"),
            ("Seed", "Fixes the district (networks, teachers, principals) and every chance event: same settings and "
             "seed, same run, here and in sim.simulate.", "integer",
             "[{:.0f}, {:.0f}]".format(*parameter_specs()["seed"].range), "reproducibility")]
    specs = parameter_specs()
    spec = specs[SCHOOLS_PATH]
    rows.append(("District size", spec.meaning, spec.unit, f"[{int(spec.range[0])}, {MAX_APP_SCHOOLS}] in the app",
                 spec.source))
    for lever in LEVERS:
        lo, hi = lever.bounds
        rows.append((lever.label, f"{lever.note} ({lever.spec.meaning})" if lever.note else lever.spec.meaning,
                     lever.spec.unit, f"[{lo:g}, {hi:g}]", lever.spec.source))
    for choice in CHOICES:
        rows.append((choice.label, choice.spec.meaning, "", ", ".join(choice.values), choice.spec.source))
    body = "".join("<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
        *(html.escape(str(cell)) for cell in row)) for row in rows)
    steps = ("<p>Choose a preset and move levers, then press <b>Reset</b>: a new district starts with those "
             "settings (and the baseline next to it, same seed). <b>Step</b> advances one school month (10 months a "
             "school year); <b>&#9654;</b> plays. <b>Save comparison</b> writes PNG figures, a CSV and provenance "
             "under results/app/.</p>")
    return (f"{steps}<table class='sim-guide' style='font-size:13px'><tr><th>Control</th><th>Meaning</th>"
            f"<th>Unit</th><th>Allowed</th><th>Source</th></tr>{body}</table>")


def guide_view(model: WorkshopModel):
    """Page 1: how to use the app and what each control means."""
    use_frame_drawn(model)
    return solara.HTML(tag="div", unsafe_innerHTML=guide_html(), classes=["sim-guide"])


COMPONENTS = [status_view, district_view, *(chart_view(name) for name in CHARTS), settings_view, (guide_view, 1)]


@solara.component
def Page():
    """The app page: one model per browser session, SolaraViz controls and the views."""
    model = solara.use_memo(AppModel, dependencies=[])
    return SolaraViz(model, components=COMPONENTS, model_params=model_params(), name=TITLE,
                     play_interval=PLAY_INTERVAL_MS, render_interval=1)


page = Page


# -- command line --------------------------------------------------------------------------------

USAGE = ("usage: sim-app [port=8765] [out=results/app] serves the workshop app on http://127.0.0.1:<port>/ "
         "(port=0 picks a free port); sim-app export [scenario=<preset>] [seed=<n>] [schools=<n>] "
         f"[{'|'.join(lv.name for lv in LEVERS)}|{'|'.join(c.name for c in CHOICES)}=<value>] "
         "[steps=<months>] [out=results/app] saves the comparison with the baseline as in the app's "
         "'Save comparison' button.")


def _parse_options(args: Sequence[str], allowed: Sequence[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    for a in args:
        key, sep, value = a.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(f"Unknown argument '{a}'. Allowed: {', '.join(f'{k}=...' for k in allowed)}.")
        opts[key] = value
    return opts


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ConfigError(f"Invalid value '{text}' for 'port': allowed is a whole number in [0, 65535] "
                          "(0 picks a free port).")
    port = int(text)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((HOST, port))
        except OSError:
            raise ConfigError(f"Port {port} on {HOST} is already in use (or not allowed): choose another with "
                              "port=<1024-65535>, or port=0 for any free port.") from None
        return sock.getsockname()[1]


def serve(port: int, out: str) -> None:
    """Start the SolaraViz app on 127.0.0.1 (blocks until stopped)."""
    import solara.__main__ as solara_cli
    import solara.server.settings as solara_settings

    os.environ[OUT_ENV] = out
    solara_settings.telemetry.mixpanel_enable = False
    print(f"sim-app: workshop app at http://{HOST}:{port}/ (Ctrl+C stops it; exports go to {out}/)", flush=True)
    solara_cli.cli(["run", "sim.app.page", "--host", HOST, "--port", str(port), "--production", "--no-open",
                    "--no-check-version", "--log-level", "warning"], standalone_mode=True)


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
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in args):
        print(USAGE)
        return
    try:
        if args and args[0] == "export":
            out = export_command(args[1:])
            print(f"sim-app: saved {out}/")
            return
        opts = _parse_options(args, ("port", "out"))
        port = _port(opts.get("port", str(DEFAULT_PORT)))
    except ConfigError as exc:
        print(f"sim-app: {exc} {USAGE}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    serve(port, opts.get("out", DEFAULT_OUT))


if __name__ == "__main__":
    main()
