"""sim-calibrate: experiment validation, the simulated survey design, parameter recovery, resume, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.calibration.calibrate import (
    SurveyDesign,
    calibrate,
    check_inputs,
    load_experiment,
    make_simulator,
    observed_statistics,
    parse_args,
)
from sim.calibration.recovery import Recipe, synthetic_survey
from sim.config import REPO_ROOT, ConfigError
from sim.inputs.survey import load_survey
from tests.conftest import default_sigint

SMALL = "calibrate_small"
#: True values of the CI recovery check (none equals a baseline default).
TRUTH = {"teacher.capacity_mean": 0.6, "teacher.autonomy_mean": 0.45, "teacher.support_mean": 0.35,
         "peers.influence": 0.25, "principal.codify_rate": 0.3}
#: Parameters whose own survey item measures them: the posterior must be much narrower than the prior.
DIRECT = ("teacher.capacity_mean", "teacher.autonomy_mean", "teacher.support_mean")


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.calibration.calibrate", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def small_survey(tmp_path_factory) -> Path:
    """A synthetic survey of the small experiment's district, made with TRUTH (two waves, one missing answer)."""
    d = tmp_path_factory.mktemp("survey")
    recipe = Recipe(scenario=("baseline",), overrides=("district.schools=8", "district.teachers_per_school=10"),
                    truth=TRUTH, waves=(10, 30), seed=11)
    df = synthetic_survey(recipe)
    df["support"] = df["support"].astype("Int64")
    df.loc[3, "support"] = pd.NA  # a missing answer: kept, and mirrored in every simulated survey
    path = d / "small.csv"
    df.to_csv(path, index=False)
    (d / "truth.yaml").write_text(yaml.safe_dump({"truth": TRUTH}))
    return path


@pytest.fixture(scope="module")
def cli_run(small_survey, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, pd.DataFrame]:
    """The small calibration stopped after its first generation (one process), then resumed to the end
    through the command line (two worker processes). Also returns generation 1's sample before resuming."""
    out = tmp_path_factory.mktemp("cli") / "out"
    first = calibrate(small_survey, SMALL, out, generations=1, executor="single", progress=False)
    assert not first.finished and len(first.generations) == 1
    assert first.ppc is None and not (out / "ppc.csv").exists()  # a partial run writes the posterior so far
    generation1 = pd.read_csv(out / "posterior_sample.csv")
    proc = run_cli(f"survey={small_survey}", f"experiment={SMALL}", f"out={out}",
                   f"truth={small_survey.parent / 'truth.yaml'}")
    return out, proc, generation1


# -- experiment files ----------------------------------------------------------------------

def test_experiments_load():
    for name in ("calibrate_baseline", SMALL):
        exp = load_experiment(name)
        assert list(exp.free) == list(TRUTH)
        assert exp.statistics["capacity"] == ("mean",)


def bad_experiment(tmp_path: Path, change: dict) -> str:
    raw = yaml.safe_load((REPO_ROOT / "experiments" / f"{SMALL}.yaml").read_text())
    for key, value in change.items():
        section, _, field = key.partition("/")
        if field:
            raw[section][field] = value
        else:
            raw[section] = value
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_experiment(str(path))
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("change, expected", [
    ({"typo": 1}, "unknown field(s) typo"),
    ({"free/teacher.capacity_man": {"prior": "uniform", "low": 0, "high": 1}},
     "unknown parameter 'teacher.capacity_man'. Did you mean 'teacher.capacity_mean'?"),
    ({"free/teacher.capacity_mean": {"prior": "uniform", "low": 0.2, "high": 1.5}}, "inside the parameter's range"),
    ({"free/teacher.capacity_mean": {"prior": "beta", "a": 1}}, "allowed: uniform, normal"),
    ({"free/peers.threshold": {"prior": "uniform", "low": 1, "high": 5}}, "only real-valued parameters"),
    ({"fixed/peers.influence": 0.1}, "'peers.influence' is both free and fixed"),
    ({"fixed/district.schools": 0}, "district.schools"),
    ({"statistics/rigor": ["median"]}, "unknown statistic(s) median"),
    ({"statistics/rigour": ["mean"]}, "unknown item(s) rigour"),
    ({"abc/population": 3}, "abc.population must be an integer >= 10"),
    ({"abc/max_simulations": 50}, "abc.max_simulations must be 0 (no limit) or at least abc.population"),
    ({"abc/distance": "euclid"}, "allowed: regression, adaptive"),
    ({"abc/transition": "uniform"}, "abc.transition is 'uniform'; allowed: normal, local"),
    ({"abc/initial_epsilon": -1}, "abc.initial_epsilon must be a number >= 0"),
    ({"executor/kind": "ray"}, "allowed: processes, dask, single"),
])
def test_bad_experiment_is_refused(tmp_path, change, expected):
    assert expected in bad_experiment(tmp_path, change)


# -- the simulated survey -------------------------------------------------------------------

def test_simulated_survey_reproduces_the_observed_design(small_survey):
    data = load_survey(small_survey)
    exp = load_experiment(SMALL)
    sim_ = make_simulator(exp, data)
    answers = sim_.survey(TRUTH, seed=5)
    design = SurveyDesign.from_survey(data, list(exp.statistics))
    assert np.isnan(answers["support"]).sum() == 1 and np.isnan(answers["support"][3])
    for item, x in answers.items():
        assert len(x) == len(data.frame)
        ok = x[~np.isnan(x)]
        assert set(np.unique(ok)) <= {1, 2, 3, 4, 5}
    # same statistics names as the observed ones, and the same numbers for the same seed
    observed = observed_statistics(exp, data)
    stats = sim_.statistics_of(answers)
    assert list(stats) == list(observed)
    assert sim_.statistics_of(sim_.survey(TRUTH, seed=5)) == stats
    assert sim_.statistics_of(sim_.survey(TRUTH, seed=6)) != stats
    assert design.waves.tolist() == data.frame["wave"].tolist()


def test_district_smaller_than_survey_is_refused(small_survey, tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "experiments" / f"{SMALL}.yaml").read_text())
    raw["fixed"]["district.schools"] = 4
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="the survey covers 8 schools but the model district has district.schools=4"):
        make_simulator(load_experiment(str(path)), load_survey(small_survey))


# -- recovery, outputs and resume -----------------------------------------------------------

@pytest.mark.slow
def test_recovery_true_values_inside_90_percent_intervals(cli_run):
    out, proc, _ = cli_run
    assert proc.returncode == 0, proc.stderr
    post = pd.read_csv(out / "posterior.csv")
    assert list(post.columns) == ["parameter", "mean", "q05", "q50", "q95"]
    assert list(post["parameter"]) == list(TRUTH)
    exp = load_experiment(SMALL)
    for row in post.itertuples():
        assert row.q05 <= TRUTH[row.parameter] <= row.q95, row
        prior = exp.free[row.parameter]
        if row.parameter in DIRECT:  # the data must have taught something
            assert row.q95 - row.q05 < 0.5 * (prior.high - prior.low), row
    truth = pd.read_csv(out / "truth.csv")
    assert truth["inside_90"].all()


def test_outputs_progress_and_provenance(cli_run):
    out, proc, _ = cli_run
    for name in ("posterior_sample.csv", "generations.csv", "marginals.png", "pairs.png", "ppc.csv", "ppc.png",
                 "observed_statistics.csv", "calibration.yaml", "provenance.yaml", "history.db", "pilot.csv"):
        assert (out / name).exists(), name
    assert all(f"generation {g}/5" in proc.stdout for g in (2, 3, 4, 5))  # one line per generation
    gens = pd.read_csv(out / "generations.csv")
    assert gens["generation"].tolist() == [1, 2, 3, 4, 5]
    assert (gens["epsilon"].diff().dropna() < 0).all()  # thresholds shrink
    ppc = pd.read_csv(out / "ppc.csv")
    assert len(ppc) == len(pd.read_csv(out / "observed_statistics.csv"))
    assert {"observed", "mean", "q05", "q95", "inside_90", "p_upper"} <= set(ppc.columns)
    assert ppc["inside_90"].mean() >= 0.7  # the fitted model reproduces most survey statistics
    meta = yaml.safe_load((out / "provenance.yaml").read_text())
    assert meta["seed"] == 7 and meta["generations_done"] == 5 and meta["git_revision"]
    assert meta["packages"]["numpy"] and meta["pyabc"] == "0.13.0" and meta["survey_sha256"]


def test_resume_after_first_generation_continues_from_database(cli_run):
    out, proc, generation1 = cli_run
    assert "Resuming after generation 1" in proc.stdout and "generation 1/" not in proc.stdout
    assert "generation 2/5" in proc.stdout
    import pyabc

    df, w = pyabc.History(f"sqlite:///{out / 'history.db'}").get_distribution(m=0, t=0)
    assert np.allclose(df[generation1.columns[:-1]].to_numpy(), generation1.iloc[:, :-1].to_numpy())
    assert np.allclose(np.asarray(w), generation1["weight"].to_numpy())


@pytest.mark.slow
def test_same_posterior_with_or_without_interruption_and_for_any_worker_count(small_survey, tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "experiments" / f"{SMALL}.yaml").read_text())
    raw["abc"].update(population=15, generations=2, pilot=30)
    exp = tmp_path / "tiny.yaml"
    exp.write_text(yaml.safe_dump(raw))
    whole = calibrate(small_survey, str(exp), tmp_path / "whole", progress=False, predictive_draws=0)  # 2 workers
    calibrate(small_survey, str(exp), tmp_path / "parts", generations=1, progress=False, executor="single")
    parts = calibrate(small_survey, str(exp), tmp_path / "parts", progress=False, executor="single",
                      predictive_draws=0)
    assert parts.resumed_from == 1 and whole.finished and parts.finished
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "whole" / "posterior_sample.csv"),
                                  pd.read_csv(tmp_path / "parts" / "posterior_sample.csv"))
    pd.testing.assert_frame_equal(whole.generations, parts.generations)


def test_resume_with_other_settings_is_refused(small_survey, cli_run, tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "experiments" / f"{SMALL}.yaml").read_text())
    raw["abc"]["seed"] = 8
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="holds a calibration with a different experiment settings"):
        check_inputs(parse_args([f"survey={small_survey}", f"experiment={path}", f"out={cli_run[0]}"]))


# -- command line: bad input -> one paragraph, exit status 2 ---------------------------------

def test_cli_bad_survey_exits_2_naming_file_row_column(tmp_path, small_survey):
    bad = tmp_path / "bad.csv"
    lines = small_survey.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("rigor")] = "7"
    bad.write_text("\n".join([lines[0], *lines[1:5], ",".join(row), *lines[6:]]) + "\n")
    proc = run_cli(f"survey={bad}", f"experiment={SMALL}", f"out={tmp_path / 'o'}")
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "row 5 (line 6), column 'rigor'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


def test_cli_unknown_experiment_exits_2(tmp_path, small_survey):
    proc = run_cli(f"survey={small_survey}", "experiment=nope", f"out={tmp_path / 'o'}")
    assert proc.returncode == 2 and "Available experiments: calibrate_baseline" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, expected", [
    (["survey=s.csv", "out=x"], "Missing argument(s) experiment="),
    (["survey=s.csv", "experiment=calibrate_small", "out=x", "generation=2"], "Did you mean 'generations'?"),
    (["survey=s.csv", "experiment=calibrate_small", "out=x", "workers=two"], "workers='two' must be an integer"),
    (["survey", "experiment=calibrate_small"], "is not of the form key=value"),
])
def test_bad_arguments(args, expected):
    with pytest.raises(ConfigError) as info:
        parse_args(args)
    assert expected in str(info.value)


def test_survey_experiment_needs_a_survey(tmp_path):
    with pytest.raises(ConfigError, match="compares survey statistics: give survey=PATH"):
        check_inputs(parse_args([f"experiment={SMALL}", f"out={tmp_path / 'o'}"]))


def test_bad_settings_and_truth(small_survey, tmp_path):
    base = [f"survey={small_survey}", f"experiment={SMALL}", f"out={tmp_path / 'o'}"]
    with pytest.raises(ConfigError, match="executor.kind is 'ray'"):
        check_inputs(parse_args([*base, "executor=ray"]))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"truth": {"peers.threshold": 2}}))
    with pytest.raises(ConfigError, match="peers.threshold are not free parameters"):
        check_inputs(parse_args([*base, f"truth={tmp_path / 't.yaml'}"]))


# -- executors and interruption -------------------------------------------------------------

def tiny_experiment(tmp_path: Path, **abc) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "experiments" / f"{SMALL}.yaml").read_text())
    raw["abc"].update({"population": 12, "generations": 1, "pilot": 24, **abc})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_dask_executor_gives_the_same_posterior(small_survey, tmp_path):
    from dask.distributed import LocalCluster

    exp = str(tiny_experiment(tmp_path))
    # an already running cluster, reached by its address (one single-threaded worker, in-process to start fast)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        calibrate(small_survey, exp, tmp_path / "dask", executor="dask", dask_address=cluster.scheduler_address,
                  progress=False, predictive_draws=4)
    calibrate(small_survey, exp, tmp_path / "single", executor="single", progress=False, predictive_draws=4)
    for name in ("posterior_sample.csv", "ppc.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask" / name), pd.read_csv(tmp_path / "single" / name))


def interrupt_at(cmd: list[str], line_start: str) -> tuple[int, str]:
    """Run ``cmd`` in the repository, press Ctrl-C when a stdout line starts with ``line_start``; (status, stderr)."""
    import signal

    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    for line in proc.stdout:
        if line.startswith(line_start):
            proc.send_signal(signal.SIGINT)
            break
    _, stderr = proc.communicate(timeout=300)
    return proc.returncode, stderr


def test_ctrl_c_keeps_finished_generations_and_exits_130(small_survey, tmp_path):
    exp = tiny_experiment(tmp_path, generations=8)
    out = tmp_path / "out"
    status, stderr = interrupt_at([sys.executable, "-m", "sim.calibration.calibrate", f"survey={small_survey}",
                                   f"experiment={exp}", f"out={out}"], "generation 1/8")
    assert status == 130, stderr
    assert "Interrupted:" in stderr and "rerun the same command to resume" in stderr and "Traceback" not in stderr
    post = pd.read_csv(out / "posterior.csv")  # the posterior so far is written
    assert list(post.columns) == ["parameter", "mean", "q05", "q50", "q95"]
    resumed = calibrate(small_survey, str(exp), out, generations=2, progress=False)
    assert resumed.resumed_from >= 1


def test_ctrl_c_stops_a_recovery_study_with_130_keeping_finished_work(small_survey, tmp_path):
    exp = tiny_experiment(tmp_path, generations=3)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"scenario": "baseline", "waves": [10, 30],
                                      "overrides": ["district.schools=8", "district.teachers_per_school=10"]}))
    out = tmp_path / "study"
    status, stderr = interrupt_at([sys.executable, "-m", "sim.calibration.recovery", "study", str(exp), str(recipe), str(out),
                                   "2"], "generation 1/3")
    assert status == 130, stderr
    assert "Interrupted:" in stderr and "Traceback" not in stderr
    assert (out / "case_00" / "survey.csv").exists() and (out / "case_00" / "posterior.csv").exists()


@pytest.mark.slow
def test_max_simulations_stops_before_a_generation_past_the_budget(small_survey, tmp_path):
    exp = str(tiny_experiment(tmp_path, generations=3))
    free = calibrate(small_survey, exp, tmp_path / "free", progress=False, predictive_draws=4)
    gens = free.generations  # the same seed without a budget: what each generation costs
    g1, g2 = (int(x) for x in gens["simulations"].iloc[:2])
    assert 2 * g2 > g1  # generations get dearer as the threshold shrinks; the budget below relies on it
    # The next generation is expected to cost what the last one did: this budget admits generation 2 (g1 + g1
    # expected) but not a third (g1 + g2 spent, g2 more expected).
    budget = g1 + max(g1, g2)
    capped = calibrate(small_survey, exp, tmp_path / "out", max_simulations=budget, progress=False,
                       predictive_draws=4)
    assert not capped.finished and len(capped.generations) == 2
    pd.testing.assert_frame_equal(capped.generations, gens.iloc[:2])  # what finished is the same calibration
    assert (tmp_path / "out" / "posterior.csv").exists() and (tmp_path / "out" / "ppc.csv").exists()
    assert yaml.safe_load((tmp_path / "out" / "provenance.yaml").read_text())["max_simulations"] == budget
    more = calibrate(small_survey, exp, tmp_path / "out", max_simulations=0, progress=False, predictive_draws=4)
    assert more.resumed_from == 2  # no limit now: it continues where the budget stopped it, as if never stopped
    pd.testing.assert_frame_equal(more.generations, gens)


def test_survey_without_a_compared_item_is_refused(small_survey, tmp_path):
    df = pd.read_csv(small_survey).drop(columns=["schoolwide"])
    path = tmp_path / "no_schoolwide.csv"
    df.to_csv(path, index=False)
    with pytest.raises(ConfigError, match="compares item.s. schoolwide that the survey .* does not have"):
        check_inputs(parse_args([f"survey={path}", f"experiment={SMALL}", f"out={tmp_path / 'o'}"]))


def test_transition_setting_chooses_the_perturbation_kernel_and_initial_epsilon_the_first_threshold():
    """abc.transition picks pyabc's kernel (the default stays the global multivariate normal); abc.initial_epsilon
    fixes the first generation's threshold (rejection ABC with one generation)."""
    import dataclasses

    import pyabc

    from sim.calibration.calibrate import _abc

    exp = load_experiment("calibrate_cases")
    kernels = {name: _abc(dataclasses.replace(exp, transition=name), None, None, 1, None, {}).transitions[0]
               for name in ("normal", "local")}
    assert type(kernels["normal"]) is pyabc.MultivariateNormalTransition
    assert type(kernels["local"]) is pyabc.LocalTransition
    fixed = _abc(dataclasses.replace(exp, initial_epsilon=0.0), None, None, 0, None, {}).eps
    fixed.initialize(0, None, None, None, None)
    assert fixed(0) == 0.0


@pytest.mark.parametrize("initial_epsilon", [None, 1.0])
@pytest.mark.parametrize("t", [0, 1])
def test_distance_setting_chooses_the_distance_in_every_generation(t, initial_epsilon):
    """abc.distance decides the distance in every generation, with or without abc.initial_epsilon (a fixed first
    threshold must not swap the regression or pattern distance for the adaptive one)."""
    import dataclasses

    import numpy as np
    import pyabc

    from sim.calibration.calibrate import Pilot, _abc
    from sim.calibration.pyabc_ext import FixedRegressionSumstat

    small = load_experiment("calibrate_small")
    rng = np.random.default_rng(0)
    names = [f"s{i}" for i in range(4)]
    pilot = Pilot(params=pd.DataFrame(rng.random((30, len(small.free))), columns=list(small.free)),
                  stats=pd.DataFrame(rng.random((30, len(names))), columns=names))
    observed = dict(zip(names, rng.random(len(names))))
    for distance, kind in (("regression", pyabc.PNormDistance), ("pattern", pyabc.PNormDistance),
                           ("adaptive", pyabc.AdaptivePNormDistance)):
        exp = dataclasses.replace(small, distance=distance, initial_epsilon=initial_epsilon)
        used = _abc(exp, None, None, t, pilot if distance == "regression" else None, observed).distance_function
        assert type(used) is kind, (distance, t, initial_epsilon, type(used))
        assert isinstance(used.sumstat, FixedRegressionSumstat) == (distance == "regression")
