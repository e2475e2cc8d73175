"""Docs that cannot drift: generated blocks carry the model hash, example data regenerate bit-identically."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.config import REPO_ROOT
from sim.docblocks import MODEL_SOURCES, model_hash, replace_block, stale_blocks, stale_commands


def _copy_model(tmp: Path) -> Path:
    root = tmp / "repo"
    for folder, _ in MODEL_SOURCES:
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_every_generated_block_was_made_from_the_current_model():
    stale = stale_blocks()
    assert not stale, ("Generated blocks in the docs are out of date (regenerate them in the same change as the "
                       "model; `python -m sim.docblocks` lists them):\n" + "\n".join(stale))


def test_a_model_or_configuration_change_makes_a_stamped_block_stale(tmp_path):
    root = _copy_model(tmp_path)
    doc = root / "doc.md"
    doc.write_text(replace_block("x\n<!-- BEGIN t -->\nold\n<!-- END t -->\n", "t", "| a | 1 |", "sim-x n=1")
                   .replace(model_hash(), model_hash(root)))
    assert model_hash(root) == model_hash()  # the copy holds the same model
    assert stale_blocks([doc], root) == []
    assert "`sim-x n=1`" in doc.read_text()
    for path in (root / "sim" / "district" / "model.py", root / "scenarios" / "config.yaml"):
        saved = path.read_bytes()
        path.write_bytes(saved + b"\n")
        (stale,) = stale_blocks([doc], root)
        assert "block 't'" in stale and "regenerate it with: sim-x n=1" in stale
        path.write_bytes(saved)
        assert stale_blocks([doc], root) == []
    (root / "sim" / "district" / "extra.py").write_text("")
    assert len(stale_blocks([doc], root)) == 1
    two = root / "two.md"
    two.write_text("".join(replace_block(f"<!-- BEGIN {n} -->\n<!-- END {n} -->\n", n, "x", c)
                           for n, c in (("a", "sim-y"), ("b", "sim-x n=1"), ("c", "sim-y"))))
    assert stale_commands([doc, two], root) == ["sim-x n=1", "sim-y"]  # each once, in the order named
    doc.write_text("<!-- BEGIN t -->\n| a | 1 |\n<!-- END t -->\n")
    assert "has no stamp" in stale_blocks([doc], root)[0]
    doc.write_text("<!-- BEGIN t -->\nNot generated yet: run the command above.\n<!-- END t -->\n")
    assert stale_blocks([doc], root) == []


@pytest.mark.parametrize("name", ["synthetic_baseline", "synthetic_levels", "synthetic_levels_late"])
def test_example_survey_regenerates_bit_identically_from_its_recipe(tmp_path, name):
    from sim.calibration.recovery import main

    data = REPO_ROOT / "experiments" / "data"
    out = tmp_path / "survey.csv"
    main(["survey", str(data / f"{name}.yaml"), str(out)])
    assert out.read_bytes() == (data / f"{name}.csv").read_bytes(), (
        f"experiments/data/{name}.csv no longer matches its recipe: regenerate it with the command "
        f"in experiments/data/{name}.yaml (and the calibration that uses it)")


def test_docs_name_only_what_the_repository_contains():
    import re

    forbidden = re.compile(r"shared/|facts\.md|\bS00\d\b|\bissues? ?\d|\bthe issue\b|\bhelpers?\b|/work/")
    files = [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"), *(REPO_ROOT / "scenarios").rglob("*.yaml"),
             *(REPO_ROOT / "experiments").glob("*.yaml")]
    found = [f"{f.relative_to(REPO_ROOT)}:{i}: {m.group(0)}" for f in files
             for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             for m in [forbidden.search(line)] if m]
    assert not found, "cite sources by title, not by files outside the repository:\n" + "\n".join(found)


def test_a_default_quoted_in_prose_is_the_configured_one():
    """Prose that states a default as "`section.name` = value" (outside generated blocks) must match
    scenarios/config.yaml: a refit once left "`policy.waiver_months` = 4" behind after the value moved."""
    import re

    from omegaconf import OmegaConf

    from sim.config import load_config
    from sim.docblocks import BLOCK

    cfg = load_config("baseline")
    quoted = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+)` = (-?[0-9]+(?:\.[0-9]+)?)")
    files = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    wrong = []
    for f in files:
        text = BLOCK.sub("", f.read_text(encoding="utf-8"))
        for m in quoted.finditer(text):
            value = OmegaConf.select(cfg, m.group(1))
            if value is None or abs(float(value) - float(m.group(2))) > 1e-9:
                wrong.append(f"{f.relative_to(REPO_ROOT)}: {m.group(0)} (configured: {value})")
    assert not wrong, "\n".join(wrong)
