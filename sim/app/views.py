"""Figures of the workshop app: district picture and metric curves, fast enough to play live.

A full matplotlib redraw of a small figure (ticks, labels, layout) costs
0.1-0.4 s; at that price a 50-school district cannot play at several steps a
second. Each view is therefore a :class:`LiveFigure`: the static parts (axes,
ticks, legend) are drawn once and cached, and each frame only the changing
artists (curves, teacher dots, titles) are drawn onto that background
(matplotlib "blitting"). The background is redrawn only when an axis range
has to grow. With ``animated=False`` the same figures are ordinary matplotlib
figures, which is how an export saves them.

The chart captions are read back from the plotted artists themselves, so what
the page prints as "now" is exactly the last plotted point.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from PIL import Image

from sim.district.calendar import MONTHS_PER_YEAR, when
from sim.district.metrics import school_use_share
from sim.district.model import DistrictModel
from sim.district.state import Stage
from sim.runs.plots import LABELS

Runs = Sequence[tuple[str, DistrictModel]]

#: Colour of each practice stage in the district picture: the Okabe-Ito colour-blind-safe set (Okabe and
#: Ito 2008, "Color Universal Design"); tests/test_app.py checks that every pair stays apart under simulated
#: protanopia, deuteranopia and tritanopia (Machado et al. 2009).
STAGE_COLORS = {
    Stage.NON_USE: "#d9d9d9",
    Stage.EXPLORING: "#f0e442",
    Stage.PROTOTYPING: "#e69f00",
    Stage.ROUTINE: "#56b4e9",
    Stage.REFINING: "#0072b2",
    Stage.ABANDONED: "#000000",
}
#: Colours of "better" and "worse" (blue and vermillion of the same set; the page also says the word).
GOOD, BAD = "#0072b2", "#d55e00"
STAGE_WORDS = {
    Stage.NON_USE: "not using", Stage.EXPLORING: "exploring", Stage.PROTOTYPING: "prototyping",
    Stage.ROUTINE: "routine use", Stage.REFINING: "refining", Stage.ABANDONED: "abandoned",
}
_PALETTE = np.array([to_rgba(STAGE_COLORS[st]) for st in Stage])
#: Short names of the metrics in captions.
SHORT = {
    "teacher_adoption": "any use", "deep_adoption": "deep use", "schoolwide_share": "school-wide",
    "pilot_stall_share": "stalled", "replicated_models": "replicated models",
    "mean_exhaustion": "exhaustion", "equity_gap": "equity gap",
}
#: The app's charts: name -> (title, metrics, whether the metrics share one axes).
CHARTS = {
    "adoption": ("Teachers using the practice: any use vs deep use", ("teacher_adoption", "deep_adoption"), True),
    "schools": ("School-wide schools and replicated models", ("schoolwide_share", "replicated_models"), False),
    "strain": ("Teacher exhaustion and equity gap", ("mean_exhaustion", "equity_gap"), False),
}
#: Smallest upper y limit of each metric (in plotted units); axes grow beyond it as needed.
Y_FLOOR = {"replicated_models": 4.0, "equity_gap": 0.01}
RUN_STYLE = ("-", "--", ":")
METRIC_COLORS = ("#0072b2", "#d55e00")
#: How each kind of event is marked on the curves: line style, colour, short label.
EVENT_STYLE = {"cohort": (":", "#555555", "cohort"), "withdrawal": ("-", "#d55e00", "backs away"),
               "key_person": ("--", "#cc79a7", "key person leaves"), "codified": ("", "#009e73", ""),
               "imported": ("", "#0072b2", "")}
#: Markers of the events drawn as small marks at the foot of a chart (the picture's star and diamond).
EVENT_MARKERS = {"codified": "^", "imported": "D"}
FIGSIZE = (4.6, 3.4)
DPI = 130
PALETTE_COLORS = 64


def is_share(metric: str) -> bool:
    """Whether a metric is a share (plotted and printed in percent)."""
    return metric not in ("replicated_models", "codified_models", "replications", "backed_away", "equity_gap")


def fmt_value(metric: str, value: float) -> str:
    """A metric value as the app prints it: shares in percent, counts as integers."""
    if metric in ("replicated_models", "codified_models", "replications", "backed_away"):
        return f"{int(round(value))}"
    if metric == "equity_gap":
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def nice_ceiling(x: float) -> float:
    """Smallest of 1, 2, 2.5, 5 x 10^k that is >= x (for axis limits)."""
    if x <= 0:
        return 1.0
    k = np.floor(np.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**k >= x - 1e-12:
            return float(m * 10**k)
    return float(10 ** (k + 1))


class LiveFigure:
    """A figure whose changing artists are blitted onto a cached background.

    Subclasses build the figure, register changing artists with :meth:`add`,
    and update them in ``update``; :meth:`png` returns the current frame.
    """

    def __init__(self, fig: Figure, animated: bool = True) -> None:
        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)
        self.animated = animated
        self.dynamic: list[Artist] = []
        self._background = None

    def add(self, artist: Artist) -> Artist:
        artist.set_animated(self.animated)
        self.dynamic.append(artist)
        return artist

    def invalidate(self) -> None:
        """Redraw the static background on the next frame (after an axis change)."""
        self._background = None

    def png(self) -> bytes:
        """The current frame as PNG bytes."""
        if not self.animated:
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png")
            return buf.getvalue()
        if self._background is None:
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        else:
            self.canvas.restore_region(self._background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        # A 64-colour palette keeps these flat pictures sharp, makes frames about 4x smaller (135 -> 35 kB for
        # the district) and encodes faster, so a browser on a busy laptop keeps up with play.
        img = img.quantize(PALETTE_COLORS, method=Image.Quantize.FASTOCTREE)
        out = io.BytesIO()
        img.save(out, format="png", compress_level=1)
        return out.getvalue()


class Chart(LiveFigure):
    """Curves of one chart of :data:`CHARTS` over school years; runs differ by line style."""

    def __init__(self, chart: str, labels: Sequence[str], horizon_steps: int, animated: bool = True) -> None:
        title, metrics, shared = CHARTS[chart]
        fig = Figure(figsize=FIGSIZE, dpi=DPI)
        super().__init__(fig, animated)
        self.chart, self.metrics, self.labels = chart, metrics, list(labels)
        axes = [fig.subplots()] * len(metrics) if shared else list(fig.subplots(1, len(metrics)))
        self.axes = dict(zip(metrics, axes))
        self.lines: dict[tuple[str, str], Line2D] = {}
        self._band: pd.DataFrame | None = None
        self._band_artists: list[Artist] = []
        self._event_artists: list[Artist] = []
        self._event_keys: tuple = ()
        for k, metric in enumerate(metrics):
            ax = self.axes[metric]
            for r, label in enumerate(self.labels):
                (line,) = ax.plot([], [], RUN_STYLE[r % len(RUN_STYLE)], color=METRIC_COLORS[k % 2],
                                  lw=1.9 if r == 0 else 1.3,
                                  label=f"{SHORT[metric]}, {label}" if shared else label)
                self.lines[(metric, label)] = self.add(line)
            if not shared:
                ax.set_title(LABELS.get(metric, metric), fontsize=8.5)
                ax.set_ylabel("% of schools" if is_share(metric) else
                              "models" if metric == "replicated_models" else "index", fontsize=8.5)
            ax.set_xlabel("school year", fontsize=8.5)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if not is_share(metric) and metric != "equity_gap":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(0, max(1, horizon_steps) / MONTHS_PER_YEAR)
            ax.set_ylim(0, 10.0 if is_share(metric) else Y_FLOOR.get(metric, 1.0))
            if metric == "mean_exhaustion":
                ax.set_ylabel("% of energy lost", fontsize=8.5)
        if shared:
            axes[0].set_ylabel("% of teachers", fontsize=8.5)
        for ax in dict.fromkeys(axes):
            ax.legend(fontsize=8, loc="upper left")
        fig.suptitle(title, fontsize=9.5)
        fig.tight_layout()

    def update(self, data: dict[str, pd.DataFrame], band: pd.DataFrame | None = None,
               events: Sequence | None = None) -> None:
        """Plot each run's recorded series; grow an axis (and redraw its background) when needed.

        ``band`` (:func:`sim.app.state.seed_band`) shades what other seeds give for each run;
        ``events`` (:func:`sim.app.state.events` of your settings) are marked as vertical lines
        (codifications as ticks at the bottom). Both are part of the cached background.
        """
        grow = False
        for (metric, label), line in self.lines.items():
            ts = data[label]
            x = ts["step"].to_numpy() / MONTHS_PER_YEAR
            y = ts[metric].to_numpy(dtype=float) * (100.0 if is_share(metric) else 1.0)
            line.set_data(x, y)
            ax = self.axes[metric]
            if x.size and x[-1] > ax.get_xlim()[1]:
                ax.set_xlim(0, nice_ceiling(x[-1] * 1.25))
                grow = True
        if band is not None and band is not self._band:
            self._draw_band(band)
            grow = True
        for metric in dict.fromkeys(self.metrics):  # the y range follows today's data, not the chart's history
            grow |= self._fit_y(metric, data)
        if events is not None:
            keys = tuple((e.step, e.kind) for e in events)
            if keys != self._event_keys:
                self._draw_events(events)
                self._event_keys = keys
                grow = True
        if grow:
            if len(set(map(id, self.axes.values()))) > 1:
                xmax = max(ax.get_xlim()[1] for ax in self.axes.values())
                for ax in self.axes.values():
                    ax.set_xlim(0, xmax)
            self.invalidate()

    def _fit_y(self, metric: str, data: dict[str, pd.DataFrame]) -> bool:
        """Set the y range of ``metric`` from the curves and band now shown; True if it changed.

        The range is the floor (10% for shares) unless the data reach 95% of it, then a round number
        20% above the data's top (at most 100% for shares): the same for a chart drawn once or updated.
        """
        ax, scale = self.axes[metric], 100.0 if is_share(metric) else 1.0
        floor = 10.0 if is_share(metric) else Y_FLOOR.get(metric, 1.0)
        tops = [float(np.nanmax(data[label][metric].to_numpy(dtype=float)) * scale)
                for label in self.labels if label in data and len(data[label])]
        if self._band is not None and f"{metric}_hi" in self._band:
            tops.append(float(self._band[f"{metric}_hi"].max() * scale))
        top = max([t for t in tops if np.isfinite(t)], default=0.0)
        target = floor if top <= 0.95 * floor else nice_ceiling(top * 1.2)
        target = min(target, 100.0) if is_share(metric) else target
        if ax.get_ylim()[1] == target:
            return False
        ax.set_ylim(0, target)
        return True

    def _draw_band(self, band: pd.DataFrame) -> None:
        for artist in self._band_artists:
            artist.remove()
        self._band_artists = []
        self._band = band
        for k, metric in enumerate(self.metrics):
            if f"{metric}_lo" not in band:
                continue
            ax, scale = self.axes[metric], 100.0 if is_share(metric) else 1.0
            for r, label in enumerate(self.labels):
                b = band[band["run"] == label]
                if b.empty:
                    continue
                x = b["step"].to_numpy() / MONTHS_PER_YEAR
                self._band_artists.append(ax.fill_between(
                    x, b[f"{metric}_lo"] * scale, b[f"{metric}_hi"] * scale, color=METRIC_COLORS[k % 2],
                    alpha=0.18 if r == 0 else 0.09, lw=0, zorder=0.5))

    def _draw_events(self, events: Sequence) -> None:
        for artist in self._event_artists:
            artist.remove()
        self._event_artists = []
        for ax in dict.fromkeys(self.axes.values()):
            labelled: set[str] = set()
            for e in events:
                ls, color, word = EVENT_STYLE.get(e.kind, (":", "#555555", e.kind))
                x = e.step / MONTHS_PER_YEAR
                if e.kind in EVENT_MARKERS:
                    self._event_artists.append(ax.plot([x], [0], marker=EVENT_MARKERS[e.kind], ms=5, color=color,
                                                       ls="", transform=ax.get_xaxis_transform(), clip_on=False,
                                                       zorder=4)[0])
                    continue
                self._event_artists.append(ax.axvline(x, ls=ls, color=color, lw=1.2, zorder=1))
                if word and word not in labelled:
                    labelled.add(word)
                    self._event_artists.append(ax.text(x, 0.98, f" {word}", transform=ax.get_xaxis_transform(),
                                                       fontsize=7.5, color=color, va="top", ha="left",
                                                       rotation=90, zorder=4))

    def plotted_now(self) -> dict[tuple[str, str], float]:
        """Last plotted value of every curve, back in the metric's own units (shares as 0-1)."""
        out = {}
        for (metric, label), line in self.lines.items():
            y = np.asarray(line.get_ydata(), dtype=float)
            if y.size:
                out[(metric, label)] = float(y[-1]) / (100.0 if is_share(metric) else 1.0)
        return out

    def caption(self) -> str:
        """'Now (your settings: any use 14.2%, deep use 2.0%; baseline: ...)' from the plotted curves."""
        now = self.plotted_now()
        parts = [f"{label}: " + ", ".join(f"{SHORT[m]} {fmt_value(m, now[(m, label)])}"
                                          for m in self.metrics if (m, label) in now)
                 for label in self.labels]
        return "Now (" + "; ".join(parts) + ")"


def school_grid(n_schools: int, aspect: float) -> tuple[int, int]:
    """Columns and rows of the picture's school grid (about ``aspect`` times wider than tall)."""
    cols = max(1, int(np.ceil(np.sqrt(n_schools * aspect))))
    return cols, int(np.ceil(n_schools / cols))


def school_centers(n_schools: int, cols: int) -> np.ndarray:
    """(x, y) of each school's disc on the picture's grid (row-major, top row first)."""
    i = np.arange(n_schools)
    return np.column_stack([i % cols, -(i // cols)]).astype(float)


def teacher_positions(n_schools: int, per_school: int, cols: int) -> np.ndarray:
    """(x, y) of every teacher: each school's teachers spread over its disc (sunflower pattern)."""
    i = np.arange(per_school)
    radius = 0.4 * np.sqrt((i + 0.5) / per_school)
    theta = i * np.pi * (3 - np.sqrt(5))
    disc = np.column_stack([radius * np.cos(theta), radius * np.sin(theta)])
    return (school_centers(n_schools, cols)[:, None, :] + disc[None, :, :]).reshape(-1, 2)


class DistrictPicture(LiveFigure):
    """The district of each run (stacked): teachers coloured by stage, bigger and darker with depth.

    A dark ring marks a school where the practice is school-wide; a star a
    school that codified its own model; a diamond a school with a model
    replicated from another school (implementing it, or designing from it while planning).
    """

    def __init__(self, runs: Runs, animated: bool = True) -> None:
        n = len(runs)
        m0 = runs[0][1]
        self.cols, rows = school_grid(m0.n_schools, aspect=1.6 if n == 1 else 3.2)
        # Explicit layout in inches: suptitle, then per run a title and the school grid, then the legend.
        width, margin, top, title_h, legend_h = FIGSIZE[0], 0.05, 0.3, 0.24, 0.6
        axes_w = width - 2 * margin
        panel_h = axes_w * rows / self.cols
        height = top + n * (title_h + panel_h) + legend_h
        fig = Figure(figsize=(width, height), dpi=DPI)
        super().__init__(fig, animated)
        self.runs = list(runs)
        axes, titles = [], []
        for i, (label, _) in enumerate(runs):
            bottom = height - top - (i + 1) * (title_h + panel_h)
            ax = fig.add_axes((margin / width, bottom / height, axes_w / width, panel_h / height))
            axes.append(ax)
            titles.append(ax.set_title(label, fontsize=9, pad=3))
        for ax in axes:
            ax.set_xlim(-0.5, self.cols - 0.5)
            ax.set_ylim(-(rows - 1) - 0.5, 0.5)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        handles = [Line2D([], [], ls="", marker="o", color=STAGE_COLORS[st], label=STAGE_WORDS[st]) for st in Stage]
        handles += [Line2D([], [], ls="", marker="o", mfc="none", mec="#222222", label="school-wide"),
                    Line2D([], [], ls="", marker="*", color="#e6ab02", mec="black", label="own model"),
                    Line2D([], [], ls="", marker="D", color="#7570b3", mec="black", label="model from another school")]
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7.5, frameon=False, handletextpad=0.2,
                   columnspacing=0.8)
        fig.suptitle("Each dot a teacher, each disc a school (bigger, darker dot = deeper practice)", fontsize=8.5,
                     y=1 - 0.05 / height, va="top")
        cell_pts = 72 * axes_w / self.cols
        per = m0.p.district.teachers_per_school
        self.dot = (0.75 * cell_pts / np.sqrt(per)) ** 2
        self.ring = (0.9 * cell_pts) ** 2
        self.xy = teacher_positions(m0.n_schools, per, self.cols)
        self.centers = school_centers(m0.n_schools, self.cols)
        empty = np.empty((0, 2))
        self.artists = []
        for ax, title in zip(axes, titles):
            self.artists.append({
                "title": self.add(title),
                "teachers": self.add(ax.scatter(self.xy[:, 0], self.xy[:, 1], s=self.dot, linewidths=0)),
                "wide": self.add(ax.scatter(empty[:, 0], empty[:, 1], s=self.ring, facecolors="none",
                                            edgecolors="#222222", linewidths=1.6)),
                "own": self.add(ax.scatter(empty[:, 0], empty[:, 1], s=max(12.0, 0.12 * self.ring), marker="*",
                                           c="#e6ab02", edgecolors="black", linewidths=0.4, zorder=3,
                                           clip_on=False)),
                "copied": self.add(ax.scatter(empty[:, 0], empty[:, 1], s=max(10.0, 0.08 * self.ring), marker="D",
                                              c="#7570b3", edgecolors="black", linewidths=0.4, zorder=3,
                                              clip_on=False)),
            })

    def update(self) -> None:
        """Redraw teachers and schools from the models' current state."""

        for art, (label, m) in zip(self.artists, self.runs):
            ts, s = m.teachers_state, m.schools_state
            using = ts.using
            depth = np.clip(ts.depth, 0.0, 1.0)
            rgba = _PALETTE[ts.stage]
            rgba[:, 3] = np.where(using, 0.55 + 0.45 * depth, 0.8)
            art["teachers"].set_facecolors(rgba)
            art["teachers"].set_sizes(np.where(using, self.dot * (0.5 + 1.5 * depth), self.dot * 0.4))
            wide = school_use_share(m) >= m.p.metrics.schoolwide_threshold
            origin = np.asarray(m.registry.origin + [-1], dtype=int)[s.model]
            own = (s.model >= 0) & (origin == np.arange(m.n_schools))
            copied = (s.model >= 0) & ~own
            art["wide"].set_offsets(self.centers[wide])
            art["own"].set_offsets(self.centers[own] + 0.38)
            art["copied"].set_offsets(self.centers[copied] + 0.38)
            art["title"].set_text(f"{label}: {when(m.steps).lower()}, {int(wide.sum())} of {m.n_schools} schools "
                                  "school-wide")


def handout_pdf(title: str, about: str, status: Sequence[str], rows: Sequence[Sequence[str]],
                charts: Sequence[Chart], line: str) -> bytes:
    """A one-page PDF handout (A4 landscape): the scenario in words, status, headline table, charts.

    ``rows`` are the headline table's rows (label, unit, your settings, baseline,
    difference with its "better"/"worse"); ``line`` is the provenance line.
    """
    import textwrap

    from matplotlib.backends.backend_pdf import PdfPages

    fig = Figure(figsize=(11.69, 8.27))
    fig.text(0.04, 0.955, title, fontsize=14, weight="bold", va="top")
    fig.text(0.04, 0.915, "\n".join(textwrap.wrap(about, 150)), fontsize=9, va="top")
    fig.text(0.04, 0.83, "\n".join(status), fontsize=9.5, va="top")
    ax = fig.add_axes((0.04, 0.5, 0.92, 0.24))
    ax.axis("off")
    table = ax.table(cellText=[list(r) for r in rows],
                     colLabels=["", "unit", "your settings", "baseline", "difference"],
                     loc="upper left", cellLoc="left", colWidths=[0.36, 0.14, 0.14, 0.14, 0.18])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r > 0 and c == 4:
            verdict = rows[r - 1][4]
            cell.get_text().set_color(GOOD if "better" in verdict else BAD if "worse" in verdict else "black")
    for i, chart in enumerate(charts[:3]):
        img = np.asarray(Image.open(io.BytesIO(chart.png())).convert("RGB"))
        cax = fig.add_axes((0.03 + i * 0.325, 0.06, 0.31, 0.42))
        cax.imshow(img)
        cax.axis("off")
    fig.text(0.04, 0.02, "\n".join(textwrap.wrap(line, 200)), fontsize=6.5, va="bottom", color="#444444")
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": title, "Subject": line}) as pdf:
        pdf.savefig(fig)
    return buf.getvalue()
