"""sim-calibrate with method npe (neural posterior estimation with sbi): outputs, reproducibility, resume, bad input,
and recovery of known values."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.calibration import adopt as adopt_module
from sim.calibration import npe
from sim.calibration.calibrate import (
    CalibrationInterrupted,
    Executor,
    _simulate,
    calibrate,
    check_inputs,
    load_experiment,
)
from sim.calibration.cases import load_cases
from sim.config import CONFIG_DIR, REPO_ROOT, ConfigError
from tests.conftest import run_module
from tests.test_cases import _tiny_cases

FREE = {"peers.influence": {"prior": "uniform", "low": 0.0, "high": 0.4},
        "teacher.explore_rate": {"prior": "uniform"}}


def npe_experiment(tmp_path: Path, **changes) -> Path:
    """Two free parameters against the shipped calibration targets on small districts; a small NPE budget."""
    (tmp_path / "c").mkdir(parents=True, exist_ok=True)
    raw = {"cases": _tiny_cases(tmp_path / "c"), "method": "npe", "free": FREE,
           "npe": {"simulations": 150, "draws": 40, "chunk": 50, "seed": 3, "max_epochs": 15},
           "executor": {"kind": "processes", "workers": 1}, "predictive": {"draws": 4}}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            raw[section][field] = value
        else:
            raw[section] = value
    path = tmp_path / "npe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted NPE calibration in this process with one worker."""
    tmp = tmp_path_factory.mktemp("npe")
    exp = npe_experiment(tmp)
    res = calibrate(None, str(exp), tmp / "out", progress=False)
    return exp, tmp / "out", res


def test_npe_writes_the_outputs_of_a_calibration_and_adopt_reads_them(reference, tmp_path, monkeypatch):
    exp, out, res = reference
    for name in ("posterior.csv", "posterior_sample.csv", "marginals.png", "pairs.png", "cases_ppc.csv",
                 "targets.csv", "calibration.yaml", "provenance.yaml", "training.csv"):
        assert (out / name).exists(), name
    assert len(list((out / "simulations").glob("sims_*.csv"))) == 3  # 150 simulations in chunks of 50
    assert res.finished and res.resumed_from == 0 and res.simulated == 150 and res.generations is None
    sample = pd.read_csv(out / "posterior_sample.csv")
    assert list(sample.columns) == [*FREE, "weight"] and len(sample) == 40
    assert np.allclose(sample["weight"], 1 / 40)
    assert sample["peers.influence"].between(0, 0.4).all() and sample["teacher.explore_rate"].between(0, 1).all()
    post = pd.read_csv(out / "posterior.csv")
    assert list(post.columns) == ["parameter", "mean", "q05", "q50", "q95"] and list(post["parameter"]) == list(FREE)
    assert (post["q05"] <= post["q50"]).all() and (post["q50"] <= post["q95"]).all()
    assert np.allclose(post["q50"], [np.median(sample[k]) for k in FREE], atol=1e-12)
    ppc = pd.read_csv(out / "cases_ppc.csv")
    assert set(ppc["id"]) == {t.id for t in load_cases(yaml.safe_load(exp.read_text())["cases"]).targets}
    training = pd.read_csv(out / "training.csv")
    assert len(training) >= 1 and np.isfinite(training["validation_loss"]).all()
    meta = yaml.safe_load((out / "provenance.yaml").read_text())
    assert meta["method"] == "npe" and meta["simulations"] == 150 and meta["seed"] == 3
    assert meta["sbi"] == md.version("sbi") and meta["torch"] == md.version("torch") and meta["git_revision"]
    assert meta["npe"]["torch_threads"] == 1 and meta["npe"]["epochs_trained"] >= 1
    # adopt: the medians become the defaults and the sample is copied (into a scratch repository here)
    monkeypatch.setattr(adopt_module, "REPO_ROOT", tmp_path)
    (tmp_path / "experiments" / "data").mkdir(parents=True)
    config = tmp_path / "config.yaml"
    shutil.copy(CONFIG_DIR / "config.yaml", config)
    dest = adopt_module.adopt(out, str(exp), config=config)
    cfg = yaml.safe_load(config.read_text())
    for row in post.itertuples():
        section, key = row.parameter.split(".")
        assert cfg[section][key] == float(f"{row.q50:.3g}")
    pd.testing.assert_frame_equal(pd.read_csv(dest), sample)


def test_same_seed_gives_the_same_posterior_with_2_workers_in_another_process(reference, tmp_path):
    exp, out, _ = reference
    proc = run_module("sim.calibration.calibrate", f"experiment={exp}", f"out={tmp_path / 'two'}", "workers=2",
                      "progress=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("posterior_sample.csv", "posterior.csv", "cases_ppc.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "two" / name), pd.read_csv(out / name))
    assert not (tmp_path / "sbi-logs").exists()  # sbi's TensorBoard logs are not written


def test_interrupted_run_resumes_without_resimulating_and_ends_as_an_uninterrupted_one(reference, tmp_path,
                                                                                       monkeypatch):
    exp, ref_out, _ = reference
    out = tmp_path / "out"
    real_map = Executor.map
    chunks: list[int] = []

    def interrupt_third_chunk(self, fn, items):
        items = list(items)
        if fn is _simulate:
            chunks.append(len(items))
            if len(chunks) == 3:
                raise KeyboardInterrupt
        return real_map(self, fn, items)

    monkeypatch.setattr(Executor, "map", interrupt_third_chunk)
    with pytest.raises(CalibrationInterrupted, match="100 of 150 prior simulations are saved"):
        calibrate(None, str(exp), out, progress=False)
    assert len(list((out / "simulations").glob("sims_*.csv"))) == 2 and not (out / "posterior.csv").exists()
    chunks.clear()
    monkeypatch.setattr(Executor, "map", lambda self, fn, items: (chunks.append(len(items)) if fn is _simulate
                                                                   else None) or real_map(self, fn, items))
    res = calibrate(None, str(exp), out, progress=False)
    assert res.resumed_from == 100 and res.simulated == 50 and chunks == [50]
    for name in ("posterior_sample.csv", "cases_ppc.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(ref_out / name))
    # a different experiment (here: seed) is refused in the same directory
    with pytest.raises(ConfigError, match="different experiment settings"):
        calibrate(None, str(npe_experiment(tmp_path / "other", npe__seed=4)), out, progress=False)


@pytest.mark.parametrize("change, expected", [
    ({"npe__draws": 5}, "npe.draws must be an integer >= 10 (posterior draws kept); got 5."),
    ({"npe__estimator": "flow"}, "npe.estimator must be one of maf, nsf, mdn; got 'flow'."),
    ({"npe__simulations": "many"}, "'npe.simulations' must be int; got 'many'."),
    ({"npe__simulations": 50}, "npe.simulations must be an integer >= 100"),
    ({"npe__learning_rate": 0}, "npe.learning_rate must be a number in (0, 1); got 0.0."),
    ({"npe__transform": "log"}, "npe.transform must be one of none, logit; got 'log'."),
    ({"npe__epochs": 3}, "unknown field(s) epochs in 'npe'; allowed: simulations, draws, seed"),
    ({"method": "nn"}, "'method' is 'nn'; allowed: abc, npe"),
    ({"abc": {"seed": 4}}, "'npe.seed' (3) and 'abc.seed' (4) differ"),
    ({"free": {"peers.influence": {"prior": "normal", "mean": 0.2, "sd": 0.1}}},
     "method npe needs uniform priors (sbi's box prior); peers.influence have normal priors"),
])
def test_bad_npe_settings_are_refused_naming_file_and_field(tmp_path, change, expected):
    path = npe_experiment(tmp_path, **change)
    with pytest.raises(ConfigError) as info:
        load_experiment(str(path))
    assert expected in str(info.value) and str(path) in str(info.value)


def test_cli_bad_npe_setting_exits_2_without_traceback(tmp_path):
    path = npe_experiment(tmp_path, npe__estimator="flow")
    proc = run_module("sim.calibration.calibrate", f"experiment={path}", f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: npe.estimator must be one of maf, nsf, mdn" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_npe_without_sbi_is_refused_naming_the_install_and_abc_needs_no_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sbi", None)  # as if sbi were not installed
    with pytest.raises(ConfigError, match=r'method npe .* needs the sbi package.*pip install -e "\.\[npe\]"'):
        check_inputs({"experiment": str(npe_experiment(tmp_path)), "out": str(tmp_path / "o")})
    code = ("import sys; from sim.calibration.calibrate import calibrate; from sim.calibration import npe; "
            "from sim.calibration.experiment import load_experiment; load_experiment('calibrate_cases'); "
            "load_experiment('calibrate_small'); print(sorted(m for m in ('sbi', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def _toy(args: tuple) -> dict[str, float]:
    """A toy simulator with a known answer: two noisy readings of the parameters (scaled to [0, 1]) and their
    product."""
    _, p, seed = args
    a, b = p["peers.influence"] / 0.4, p["teacher.explore_rate"]
    e = np.random.default_rng(seed).normal(0, 0.05, 3)
    return {"x1": a + e[0], "x2": b + e[1], "x3": a * b + e[2]}


@pytest.mark.parametrize("transform", ["none", "logit"])
@pytest.mark.parametrize("seed, truth", [(1, (0.1, 0.7)), (2, (0.3, 0.2)), (3, (0.2, 0.5))])
def test_npe_recovers_known_values_of_a_toy_simulator(tmp_path, seed, truth, transform):
    """Readings with noise sd 0.05 (a twentieth of each prior's width, once scaled) pin both parameters: over three
    seeds and truths, with the parameters learnt as they are or in the logit space of their priors, the posterior
    median lies within 0.15 prior widths of the truth (3 noise sd) and the 90% interval spans less than 0.4 of the
    prior width (the prior's own 90% interval spans 0.9 of it)."""
    exp = load_experiment(str(npe_experiment(tmp_path, npe__simulations=400, npe__seed=seed, npe__max_epochs=0,
                                             npe__draws=200, npe__transform=transform)))
    names = ["x1", "x2", "x3"]
    with Executor("single") as ex:
        theta, x = npe.simulate_prior(exp, _toy, None, ex, tmp_path / "sims", names, say=lambda *a, **k: None)
    fit = npe.train(exp, theta, x)
    a, b = truth[0] / 0.4, truth[1]
    sample = npe.draw(exp, fit, {"x1": a, "x2": b, "x3": a * b})
    for key, true, width in zip(FREE, truth, (0.4, 1.0)):
        q05, q50, q95 = np.quantile(sample[key], [0.05, 0.5, 0.95])
        assert abs(q50 - true) < 0.15 * width, (key, true, q50)
        assert q95 - q05 < 0.4 * width, (key, q05, q95)


def test_dask_executor_gives_the_same_npe_posterior(reference, tmp_path):
    from dask.distributed import LocalCluster

    exp, ref_out, _ = reference
    # an already running cluster, reached by its address (one single-threaded worker, in-process to start fast)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        calibrate(None, str(exp), tmp_path / "dask", executor="dask", dask_address=cluster.scheduler_address,
                  progress=False)
    for name in ("posterior_sample.csv", "cases_ppc.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask" / name), pd.read_csv(ref_out / name))


def test_ctrl_c_on_the_command_line_keeps_the_simulations_exits_130_and_resumes(reference, tmp_path):
    from tests.test_calibrate import interrupt_at

    exp, ref_out, _ = reference
    out = tmp_path / "out"
    status, stderr = interrupt_at([sys.executable, "-m", "sim.calibration.calibrate", f"experiment={exp}",
                                   f"out={out}"], "prior simulations: 50/150")
    assert status == 130, stderr
    assert "Interrupted:" in stderr and "rerun the same command" in stderr and "Traceback" not in stderr
    saved = list((out / "simulations").glob("sims_*.csv"))
    assert 1 <= len(saved) <= 3
    res = calibrate(None, str(exp), out, progress=False)
    assert res.simulated == 150 - 50 * len(saved)  # only what was missing is simulated again
    pd.testing.assert_frame_equal(pd.read_csv(out / "posterior_sample.csv"),
                                  pd.read_csv(ref_out / "posterior_sample.csv"))
