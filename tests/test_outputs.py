"""Readable outputs: plain summaries (baseline first, then by effect), units, PRIM boxes in words, figures."""

from __future__ import annotations

import pandas as pd

from sim.runs.plots import OKABE_ITO, curves_with_bands, format_value, preset_label
from sim.runs.summary import paired_differences, plain_summary


def _summary(values: dict[str, tuple[float, float]], replicates: int = 4) -> pd.DataFrame:
    rows = []
    for scenario, (y2, y5) in values.items():
        for step, v in ((20, y2), (50, y5)):
            rows += [{"scenario": scenario, "step": step, "metric": "teacher_adoption", "mean": v, "q05": v - 0.02,
                      "q95": v + 0.02, "replicates": replicates},
                     {"scenario": scenario, "step": step, "metric": "replicated_models", "mean": 3.0, "q05": 2.0,
                      "q95": 4.0, "replicates": replicates}]
    return pd.DataFrame(rows)


def test_summary_puts_the_baseline_first_then_presets_by_effect_in_percent_and_counts():
    text = plain_summary(_summary({"lake_backing_away": (0.1, 0.03), "baseline": (0.2, 0.2),
                                   "henry_all_in": (0.35, 0.74), "flexibility": (0.3, 0.36)}),
                         ["teacher_adoption", "replicated_models"])
    order = [line for line in text.splitlines() if not line.startswith(" ")][1:]
    assert [o.split("  (")[0] for o in order] == ["Baseline (decentralized)", "Henry County: all in", "Flexibility",
                                                 "Lake County: backing away"]
    assert "(+54 points vs baseline)" in order[1] and "(-17 points vs baseline)" in order[3]
    assert "  year 2: 20% of teachers use it (18%-22%); 3 school models replicated (2-4)" in text
    assert "year 5: 74% of teachers use it" in text and "4 replicates" in text


def test_paired_differences_remove_what_scenarios_share_and_head_the_summary():
    """Replicate r of each scenario shares its seed: a common replicate effect (here 0-40 points) cancels in the
    paired difference, whose interval is then narrow, while the two scenarios' bands overlap."""
    common = [0.0, 0.1, 0.2, 0.3, 0.4]
    ts = pd.DataFrame([{"scenario": s, "replicate": r, "step": 50, "teacher_adoption": c + (0.05 + 0.01 * r if s ==
                        "flexibility" else 0.0)} for s in ("baseline", "flexibility") for r, c in enumerate(common)])
    d = paired_differences(ts, ["teacher_adoption"], [50])
    (row,) = d.to_dict("records")
    assert row["scenario"] == "flexibility" and row["replicates"] == 5 and row["share_above"] == 1.0
    assert 0.05 <= row["q05"] < row["mean"] < row["q95"] <= 0.09 and abs(row["mean"] - 0.07) < 1e-12
    summary = _summary({"baseline": (0.2, 0.2), "flexibility": (0.27, 0.27)})
    text = plain_summary(summary, ["teacher_adoption"], differences=d)
    assert "Flexibility  (+7 points vs baseline; 90% of paired runs +5 to +9)" in text
    assert paired_differences(ts[ts["scenario"] != "baseline"], ["teacher_adoption"], [50]).empty  # no reference
    tiny = d.assign(mean=-0.003, q05=-0.01, q95=0.004)  # rounds to zero: no "-0", and "point" in the singular
    assert "(+0 points vs baseline; 90% of paired runs -1 to +0)" in plain_summary(summary, ["teacher_adoption"],
                                                                                  differences=tiny)
    one = d.assign(mean=0.01)
    assert "(+1 point vs baseline;" in plain_summary(summary, ["teacher_adoption"], differences=one)


def test_a_short_run_is_summarized_at_its_last_step():
    df = _summary({"baseline": (0.2, 0.2)})
    df = df[df["step"] == 20].assign(step=12)
    assert "month 12: 20% of teachers use it" in plain_summary(df, ["teacher_adoption"])


def test_values_and_labels_for_people():
    assert format_value("teacher_adoption", 0.234) == "23%" and format_value("replicated_models", 2.0) == "2"
    assert format_value("replicated_models", 2.4) == "2.4"
    assert preset_label("clear_problems+flexibility") == "Clear problems to solve + Flexibility"
    assert preset_label("my_preset") == "my preset"


def test_curves_have_unit_labels_a_colour_blind_safe_palette_and_a_legend_outside(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    ts = pd.DataFrame([{"scenario": s, "replicate": r, "step": t, "teacher_adoption": 0.1 * t / 50 + 0.01 * r,
                        "deep_adoption": 0.0, "schoolwide_share": 0.0, "replicated_models": t // 20}
                       for s in ("henry_all_in", "baseline") for r in range(3) for t in range(0, 51, 10)])
    curves_with_bands(ts, tmp_path / "c.png")
    (fig,) = figs
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4 and {ax.get_subplotspec().get_geometry()[:2] for ax in axes} == {(2, 2)}
    assert [ax.get_ylabel() for ax in axes] == ["% of teachers", "% of teachers", "% of schools",
                                                "school models (count)"]
    first = axes[0].get_lines()
    assert first[0].get_color().upper() == OKABE_ITO[0] and first[1].get_color().upper() == OKABE_ITO[1]
    assert max(first[1].get_ydata()) > 10  # plotted in percent
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["Baseline (decentralized)", "Henry County: all in"]
    assert not any(ax.get_legend() for ax in axes)


def test_prim_boxes_in_words_name_only_real_restrictions():
    from types import SimpleNamespace

    from sim.runs.analyze import boxes_in_words

    exp = SimpleNamespace(
        analysis=SimpleNamespace(discovery=SimpleNamespace(metric="schoolwide_share", threshold=0.5, above=True)),
        parameters=[SimpleNamespace(path="policy.coaching_fte", values=None, bounds=(0.0, 2.0)),
                    SimpleNamespace(path="policy.goal_clarity", values=None, bounds=(0.0, 1.0)),
                    SimpleNamespace(path="cop.enabled", values=(False, True), bounds=None)])
    stats = {"scenario": "baseline", "box": 1, "coverage": 0.62, "density": 0.83, "runs_in_box": 18,
             "successes_in_box": 15, "successes_total": 24}
    boxes = pd.DataFrame([{**stats, "parameter": "policy.coaching_fte", "lower": 0.5412, "upper": 1.9995,
                           "values": ""},
                          {**stats, "parameter": "policy.goal_clarity", "lower": 0.284, "upper": 0.917,
                           "values": ""},
                          {**stats, "parameter": "cop.enabled", "lower": 0.5, "upper": 1.0, "values": ""}])
    text = boxes_in_words(boxes, exp)
    assert "schools where it is school-wide at least 50%" in text
    assert ("Baseline (decentralized), box 1: 15 of 18 runs in it succeed (83%), 62% of all 24 successes; when "
            "policy.coaching_fte at least 0.54; policy.goal_clarity between 0.28 and 0.92; cop.enabled is true.") in text
    assert "0.9995" not in text and "1.9995" not in text


def test_summary_counts_read_in_the_singular_for_one():
    """'1 school model replicated', not '1 school models'; other counts keep the plural."""
    rows = pd.DataFrame([{"scenario": "baseline", "step": 20, "metric": m, "mean": mean, "q05": mean, "q95": mean,
                          "replicates": 3} for m, mean in (("replicated_models", 1.0), ("codified_models", 2.0),
                                                          ("replications", 1.0))])
    text = plain_summary(rows, ["replicated_models", "codified_models", "replications"])
    assert "1 school model replicated; 2 school models codified; 1 school took up a model" in text
