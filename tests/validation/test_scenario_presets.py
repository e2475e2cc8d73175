"""The scenario presets: present, documented, policy-only, composable (docs/scenarios.md)."""

from __future__ import annotations

import re

import pytest
import yaml

from sim.config import CONFIG_DIR, SCENARIO_GROUP, available_scenarios, load_config
from sim.validation.factorial import RECOMMENDATIONS

PRESETS = ("baseline", "henry_all_in", "lake_backing_away", *RECOMMENDATIONS, "autonomy_zone",
           "community_of_practice", "design_competition", "key_person_km")
#: Sections a policy preset may change; district size, metrics, survey and run settings are not policy.
#: ``calendar`` places the preset's district on its own time axis (the school year its step 0 falls in).
POLICY_SECTIONS = {"teacher", "peers", "network", "principal", "policy", "knowledge", "rollout", "budget", "backaway", "cop",
                   "design_competition", "autonomy_zone", "calendar"}
#: A source named by title: the report (executive summary, slide deck), CRPE's essay on it, its news coverage,
#: or a case report.
CITATION = re.compile(r"the report's (executive summary|slide deck)|CRPE's essay on the report|news coverage of the "
                      r"report|Christensen Institute|Learning Accelerator|Orlando Sentinel")


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_every_preset_exists():
    assert set(PRESETS) <= set(available_scenarios())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_global_cited_and_policy_only(name):
    text = (CONFIG_DIR / SCENARIO_GROUP / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert CITATION.search(comments), "the comment block cites its source by title"
    values = dict(_leaves(yaml.safe_load(text) or {}))
    assert values, "a preset changes something"
    assert {k.split(".")[0] for k in values} <= POLICY_SECTIONS
    cfg = load_config(name)
    for key, value in values.items():
        section, leaf = key.split(".", 1)
        assert cfg[section][leaf] == value


def test_presets_compose_in_order():
    both = load_config(["clear_problems", "adult_learning"])
    assert both.policy.goal_clarity == load_config("clear_problems").policy.goal_clarity
    assert both.policy.coaching_fte == load_config("adult_learning").policy.coaching_fte
    # A later preset overrides an earlier one: key_person_km replaces Henry County's plan.
    assert load_config(["henry_all_in", "key_person_km"]).knowledge.mode == "key_person"
    assert load_config(["key_person_km", "henry_all_in"]).knowledge.mode == "plan"
