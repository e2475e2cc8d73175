"""The ablation table: each stylized fact, the mechanism that produces it, and its checks re-run with that
mechanism switched off (docs/validation.md, "Which mechanism produces each fact").

A fact is produced by a mechanism when its checks hold with the mechanism and
at least one of them fails without it. Run with::

    python -m sim.validation.ablation replicates=20 seed=0 docs=true

which rewrites the ``ablation-table`` block of docs/validation.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.validation.facts import SF_CHECKS, SF_REPLICATES, Check, sf_runs


@dataclass(frozen=True)
class Ablation:
    """A mechanism behind a fact and the overrides that switch it off."""

    fact: int  # 1-8
    mechanism: str
    off: tuple[str, ...]


#: One mechanism per fact (two for SF4, whose exhaustion and margin checks have different causes).
ABLATIONS = (
    Ablation(1, "schools stall because experiments stay individual: principals close only after the fact "
                "(codification waits `principal.close_lag` months for a decentralized principal) and "
                "flexibility waits on waivers", ("principal.close_lag=0", "principal.stance_mean=1",
                                                  "policy.flexibility_mode=institutionalized")),
    Ablation(2, "knowledge travels between schools only through a knowledge system; without one, sharing is "
                "ad hoc (`knowledge.reach_none`)", ("knowledge.reach_none=1",)),
    Ablation(3, "without clear goals, data and coaching teachers judge by engagement and their effort drifts "
                "to surface features (`teacher.focus_adapt`)", ("teacher.focus_adapt=0",)),
    Ablation(4, "effort without guidance drains energy (`teacher.energy_drain`)", ("teacher.energy_drain=0",)),
    Ablation(4, "students on the margins are included only by intentional design, which follows the "
                "drift of effort (`teacher.focus_adapt`)", ("teacher.focus_adapt=0",)),
    Ablation(5, "enthusiastic, autonomous teachers experiment on their own, encouraged by principals who "
                "open (`teacher.explore_rate`)", ("teacher.explore_rate=0",)),
    Ablation(6, "later cohorts adopt and adapt, from their planning years on, the models that the knowledge "
                "plan carries from earlier cohorts (`knowledge.mode=plan`)", ("knowledge.mode=none",)),
    Ablation(7, "when the office backs away its schools stop implementing, so teachers there start (and "
                "restart) experiments only at the rate of schools outside the initiative "
                "(`rollout.inactive_factor`), while those who use PL keep giving up, faster under the test "
                "pressure that rises (`backaway.test_pressure_after`); switched off, stopping implementation "
                "costs no starts (in every school, initiative or not) and pressure does not rise",
             ("rollout.inactive_factor=1", "backaway.test_pressure_after=0")),
    Ablation(8, "the repository and the help to adapt imported models are held by one person "
                "(`knowledge.mode=key_person`); switched off, a knowledge plan holds them",
             ("knowledge.mode=plan",)),
)


def ablation_rows(replicates: int = SF_REPLICATES, base_seed: int = 0,
                  overrides: tuple[str, ...] = ()) -> list[tuple[Ablation, list[Check], list[Check]]]:
    """Per ablation: the fact's checks with the mechanism and without it."""
    on = sf_runs(replicates, base_seed, overrides)
    rows = []
    for ab in ABLATIONS:
        checks = SF_CHECKS[ab.fact - 1]
        off = sf_runs(replicates, base_seed, (*overrides, *ab.off))
        rows.append((ab, checks(on), checks(off)))
    return rows


def ablation_markdown(rows) -> str:
    """Table: fact, mechanism, overrides that switch it off, checks holding with and without it."""
    lines = ["| fact | mechanism | switched off by | checks holding with it | checks holding without it | "
             "produced by it |", "|---|---|---|---|---|---|"]
    for ab, with_, without in rows:
        n = len(with_)
        hold_on, hold_off = sum(c.passes() for c in with_), sum(c.passes() for c in without)
        failing = "; ".join(c.claim for c in without if not c.passes())
        produced = "yes" if hold_on == n and hold_off < n else "NO"
        lines.append(f"| SF{ab.fact} | {ab.mechanism} | `{' '.join(ab.off)}` | {hold_on}/{n} | {hold_off}/{n}"
                     + (f" (fails: {failing})" if failing else "") + f" | {produced} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.ablation [replicates=N] [seed=N] [docs=true]``: the ablation table."""
    from sim.docblocks import table_tool

    return table_tool("python -m sim.validation.ablation", __doc__ or "", argv, "ablation-table",
                      lambda n, seed: ablation_markdown(ablation_rows(n, seed)), SF_REPLICATES, 2)


if __name__ == "__main__":
    raise SystemExit(main())
