"""Adopt a calibration: its posterior point estimate becomes the defaults of scenarios/config.yaml.

``python -m sim.calibration.adopt out=DIR experiment=NAME`` reads
``DIR/posterior.csv`` (weighted median ``q50`` of each free parameter) and
``DIR/posterior_sample.csv``, writes each free parameter's median into
scenarios/config.yaml (3 significant digits), rewrites its source to say
``calibrated: experiments/NAME.yaml`` (replacing earlier "calibrated ..."
notes), and copies the weighted sample to ``experiments/data/posterior_<name>.csv``
(one column per dotted parameter plus ``weight``). Regenerate
docs/parameters.md afterwards with ``python -m sim.paramdoc``.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pandas as pd

from sim.calibration.experiment import experiment_path, load_experiment
from sim.config import CONFIG_DIR, REPO_ROOT, ConfigError
from sim.exits import EXIT_BAD_INPUT

_CALIBRATED = re.compile(r",?\s*calibrated(?: to [^,;()]*(?:\([^)]*\))?| \([^)]*\)|: [^,;]*)")


def _source_with(meta: str, note: str) -> str:
    """The meta line with earlier calibration notes removed from its source and ``note`` appended."""
    head, sep, source = meta.partition("source:")
    if not sep:
        return meta.rstrip() + f"; source: {note}"
    source = _CALIBRATED.sub("", source).strip().rstrip(",")
    return f"{head}source: {source + ', ' if source else ''}{note}"


def _real(x: float) -> str:
    """``x`` to 3 significant digits, always written as a real number (10.0, not 10), so a calibrated
    parameter keeps its type in the configuration."""
    s = f"{x:.3g}"
    return s if any(c in s for c in ".en") else s + ".0"


def set_defaults(text: str, values: dict[str, float], note: str) -> str:
    """Config text with ``values`` (dotted key -> number) as defaults and ``note`` in their sources.

    Raises ConfigError when a key is not found as ``section:`` / ``  key: value``.
    """
    lines = text.splitlines(keepends=True)
    section = ""
    done = set()
    for i, line in enumerate(lines):
        top = re.match(r"^([A-Za-z_][\w]*):", line)
        if top:
            section = top.group(1)
            continue
        m = re.match(r"^  ([A-Za-z_][\w]*):(\s*)([^#\n]*?)(\s*#.*)?$", line.rstrip("\n"))
        if not m:
            continue
        key = f"{section}.{m.group(1)}"
        if key not in values:
            continue
        lines[i] = f"  {m.group(1)}:{m.group(2) or ' '}{_real(values[key])}{m.group(4) or ''}\n"
        j = i - 1
        if j >= 0 and lines[j].lstrip().startswith("# unit:"):
            lines[j] = _source_with(lines[j].rstrip("\n"), note) + "\n"
            first = j
            while first > 0 and lines[first - 1].startswith("  #"):
                first -= 1
            if first < j:  # the meaning: drop "Calibrated so that ..." sentences of an earlier hand tuning
                meaning = " ".join(x.strip()[1:].strip() for x in lines[first:j])
                kept = re.sub(r"\s*Calibrated so that.*?\.(?=\s|$)", "", meaning).strip()  # to the sentence's end
                if kept != meaning:
                    lines[first:j] = [f"  # {x}\n" for x in textwrap.wrap(kept, 114)]
        done.add(key)
    missing = set(values) - done
    if missing:
        raise ConfigError(f"scenarios/config.yaml: no default line for {', '.join(sorted(missing))}.")
    return "".join(lines)


def adopt(out: str | Path, experiment: str, config: Path = CONFIG_DIR / "config.yaml") -> Path:
    """Write the posterior medians into ``config`` and copy the sample; return the sample's path in the repo."""
    exp = load_experiment(experiment)
    out = Path(out)
    post_path, sample_path = out / "posterior.csv", out / "posterior_sample.csv"
    for p in (post_path, sample_path):
        if not p.is_file():
            raise ConfigError(f"out={out}: no {p.name}; run sim-calibrate experiment={experiment} out={out} first.")
    post = pd.read_csv(post_path).set_index("parameter")
    missing = [k for k in exp.free if k not in post.index]
    if missing:
        raise ConfigError(f"{post_path}: lacks free parameter(s) {', '.join(missing)} of {exp.name}.")
    rel = experiment_path(experiment).resolve()
    try:
        rel = rel.relative_to(REPO_ROOT)
    except ValueError:
        pass
    note = f"calibrated: {rel}"
    config.write_text(set_defaults(config.read_text(encoding="utf-8"),
                                   {k: float(post.loc[k, "q50"]) for k in exp.free}, note), encoding="utf-8")
    sample = pd.read_csv(sample_path)
    dest = REPO_ROOT / "experiments" / "data" / f"posterior_{exp.name.removeprefix('calibrate_')}.csv"
    sample[[*exp.free, "weight"]].to_csv(dest, index=False)
    return dest


def posterior_markdown(sample: pd.DataFrame, experiment: str) -> str:
    """The adopted posterior as a Markdown table: each free parameter's prior, median (the default), 5% and 95%
    quantiles, and the 5-95% span as a share of the prior's (near 1: the patterns do not identify it)."""
    from sim.calibration.calibrate import posterior_table

    exp = load_experiment(experiment)
    lines = ["| parameter | prior | median (the default) | 5% | 95% | span / prior's span |",
             "|---|---|---|---|---|---|"]
    for r in posterior_table(sample, exp).itertuples():
        prior = exp.free[r.parameter]
        lines.append(f"| `{r.parameter}` | {prior.describe()} | {r.q50:.3g} | {r.q05:.3g} | {r.q95:.3g} | "
                     f"{(r.q95 - r.q05) / prior.span():.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.calibration.adopt out=DIR experiment=NAME``: adopt, then print the posterior table."""
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv) if "=" in a)
    try:
        if set(args) != {"out", "experiment"}:
            raise ConfigError("usage: python -m sim.calibration.adopt out=DIR experiment=NAME "
                              "(DIR: the output directory of sim-calibrate).")
        dest = adopt(args["out"], args["experiment"])
    except ConfigError as exc:
        print(f"adopt: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(f"Wrote the posterior medians into scenarios/config.yaml and the sample to {dest}; "
          "now run python -m sim.paramdoc.\n")
    print(posterior_markdown(pd.read_csv(dest), args["experiment"]))


if __name__ == "__main__":
    main()
