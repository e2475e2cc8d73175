"""Configuration: documented parameters, validation, composition."""

from __future__ import annotations

import pytest
from omegaconf import DictConfig

from sim.config import ConfigError, available_scenarios, load_config, parameter_specs


def test_every_parameter_is_documented():
    specs = parameter_specs()
    assert len(specs) > 80
    for path, spec in specs.items():
        assert spec.meaning and spec.unit and spec.source, path
        if isinstance(spec.default, bool):
            assert spec.choices == (True, False), path
        elif isinstance(spec.default, int | float):
            assert spec.range is not None, f"{path} needs a range"
            assert spec.range[0] <= spec.default <= spec.range[1], path


def test_required_top_level_keys_and_defaults():
    cfg = load_config()
    assert isinstance(cfg, DictConfig)
    assert cfg.steps == 50  # five school years of ten school months
    assert {"seed", "steps", "district"} <= set(cfg)
    assert cfg.district.schools > 0 and cfg.district.teachers_per_school > 1
    assert "baseline" in available_scenarios()


def test_overrides_apply_and_copies_are_independent():
    cfg = load_config(overrides=["district.schools=7", "steps=3"])
    assert cfg.district.schools == 7 and cfg.steps == 3
    cfg.district.schools = 99
    assert load_config(overrides=["district.schools=7", "steps=3"]).district.schools == 7


@pytest.mark.parametrize("override, words", [
    ("district.schools=0", ["district.schools", "[1, 5000]"]),
    ("district.bogus=1", ["district.bogus", "district.schools"]),
    ("policy.flexibility_mode=sometimes", ["policy.flexibility_mode", "negotiated, institutionalized"]),
    ("steps=2.5", ["steps", "integer"]),
    ("policy.goal_clarity=1.5", ["policy.goal_clarity", "[0, 1]"]),
    ("backaway.enabled=maybe", ["backaway.enabled", "true, false"]),
    ("rollout.cohorts=[3,-1]", ["rollout.cohorts"]),
    ("nonsense", ["key=value"]),
])
def test_bad_overrides_name_field_and_allowed_values(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    message = str(err.value)
    assert "\n" not in message.strip()
    for w in words:
        assert w in message


def test_unknown_scenario_lists_allowed():
    with pytest.raises(ConfigError, match="Allowed scenarios: .*baseline"):
        load_config("no_such_policy")


def test_overrides_win_over_presets_and_presets_combine():
    a = load_config(["baseline"], ["policy.goal_clarity=0.9"])
    assert a.policy.goal_clarity == 0.9
    twice, once = load_config(["baseline", "baseline"]), load_config("baseline")
    twice.run.name = once.run.name = "same"  # run.name is a time stamp
    assert twice == once


def test_parameter_doc_is_current():
    from sim.paramdoc import OUT, render

    assert OUT.read_text() == render(), "docs/parameters.md is stale: run `python -m sim.paramdoc`"
