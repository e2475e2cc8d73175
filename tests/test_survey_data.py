"""Survey CSV loader (one test per kind of bad input), summary statistics, initialization from a survey."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.config import REPO_ROOT, load_config
from sim.district.survey import ITEMS
from sim.inputs import build_model
from sim.inputs.survey import SurveyDataError, load_survey, statistics_table

HEADER = "respondent_id,district,school,wave,role,support,rigor"
GOOD_ROWS = ["r1,d1,s1,20,teacher,4,2", "r2,d1,s1,20,teacher,3,1", "r3,d1,s2,20,teacher,5,3"]


def write(tmp_path: Path, text: str | bytes, name: str = "survey.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def refused(path: Path) -> str:
    with pytest.raises(SurveyDataError) as info:
        load_survey(path)
    msg = str(info.value)
    assert str(path) in msg  # every message names the file
    assert "\n" not in msg  # one paragraph
    return msg


def test_valid_file_loads_with_types(tmp_path):
    data = load_survey(write(tmp_path, csv_text(*GOOD_ROWS)))
    assert list(data.frame["respondent_id"]) == ["r1", "r2", "r3"]
    assert data.items == ("support", "rigor")
    assert data.frame["wave"].dtype == np.int64
    assert data.frame["support"].tolist() == [4, 3, 5]
    assert data.rows_with_missing == 0


def test_missing_file(tmp_path):
    assert "no such survey file" in refused(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    assert "the file is empty" in refused(write(tmp_path, b""))


def test_header_without_rows(tmp_path):
    assert "no respondent rows" in refused(write(tmp_path, HEADER + "\n"))


def test_wrong_encoding_names_row_and_column(tmp_path):
    latin1 = csv_text(*GOOD_ROWS[:2], "r3,d1,\u00c9cole,20,teacher,5,3").encode("latin-1")
    msg = refused(write(tmp_path, latin1))
    assert "row 3 (line 4)" in msg and "column 'school'" in msg and "UTF-8" in msg


def test_wrong_delimiter(tmp_path):
    msg = refused(write(tmp_path, csv_text(*(r.replace(",", ";") for r in GOOD_ROWS), header=HEADER.replace(",", ";"))))
    assert "';'" in msg and "comma" in msg


def test_unknown_column_with_hint(tmp_path):
    msg = refused(write(tmp_path, csv_text(*(r + ",3" for r in GOOD_ROWS), header=HEADER + ",rigour")))
    assert "unknown column(s) 'rigour'" in msg and "did you mean 'rigor'" in msg and "Allowed columns" in msg


def test_missing_required_column(tmp_path):
    header = HEADER.replace("wave,", "")
    rows = [re.sub(r",20,", ",", r) for r in GOOD_ROWS]
    msg = refused(write(tmp_path, csv_text(*rows, header=header)))
    assert "lacks required column(s) wave" in msg


def test_no_item_column(tmp_path):
    header = "respondent_id,district,school,wave,role"
    msg = refused(write(tmp_path, csv_text("r1,d1,s1,20,teacher", header=header)))
    assert "no survey item column" in msg


def test_value_outside_likert_scale(tmp_path):
    msg = refused(write(tmp_path, csv_text(*GOOD_ROWS[:2], "r3,d1,s2,20,teacher,6,3")))
    assert "row 3 (line 4), column 'support'" in msg and "outside the Likert scale" in msg


def test_non_integer_answer(tmp_path):
    msg = refused(write(tmp_path, csv_text("r1,d1,s1,20,teacher,2.5,2")))
    assert "row 1 (line 2), column 'support'" in msg and "'2.5'" in msg


def test_non_numeric_cell(tmp_path):
    msg = refused(write(tmp_path, csv_text(GOOD_ROWS[0], "r2,d1,s1,20,teacher,3,agree")))
    assert "row 2 (line 3), column 'rigor'" in msg and "'agree' is not numeric" in msg


def test_duplicate_respondent_ids(tmp_path):
    msg = refused(write(tmp_path, csv_text(*GOOD_ROWS, "r2,d1,s2,20,teacher,1,1")))
    assert "row 4 (line 5), column 'respondent_id'" in msg and "duplicate respondent id 'r2' (first on row 2)" in msg


def test_ragged_row(tmp_path):
    msg = refused(write(tmp_path, csv_text(GOOD_ROWS[0], "r2,d1,s1,20,teacher,3")))
    assert "row 2 (line 3): 6 fields where the header has 7" in msg


def test_bad_wave_and_role(tmp_path):
    msg = refused(write(tmp_path, csv_text("r1,d1,s1,-3,teacher,3,3", "r2,d1,s1,20,janitor,3,3")))
    assert "row 1 (line 2), column 'wave'" in msg and "row 2 (line 3), column 'role'" in msg
    assert "teacher, coach, principal, other" in msg


def test_many_problems_are_summarised(tmp_path):
    rows = [f"r{i},d1,s1,20,teacher,9,3" for i in range(8)]
    msg = refused(write(tmp_path, csv_text(*rows)))
    assert msg.startswith("8 problem(s)") and "and 3 more problem(s)" in msg


def test_missing_answers_are_kept_and_counted(tmp_path):
    data = load_survey(write(tmp_path, csv_text("r1,d1,s1,20,teacher,,2", "r2,d1,s1,20,teacher,NA,1",
                                                "r3,d1,s2,20,teacher,5,n/a", "r4,d1,s2,20,teacher,4,4")))
    assert len(data.frame) == 4  # nothing dropped
    assert data.rows_with_missing == 3
    assert data.missing_by_item == {"support": 2, "rigor": 1}
    assert "3 respondents have at least one missing answer" in data.report()
    table = statistics_table(data.frame).set_index("name")["value"]
    assert table["mean:support:w20"] == pytest.approx(4.5)  # the answers given
    assert table["mean:rigor:w20"] == pytest.approx(7 / 3)


def test_virtual_survey_round_trip(tmp_path):
    df = sim.virtual_survey(seed=3, overrides=["district.schools=4", "district.teachers_per_school=6", "steps=3"])
    path = tmp_path / "virtual.csv"
    df.to_csv(path, index=False)
    data = load_survey(path)
    assert data.items == tuple(ITEMS)
    for item in ITEMS:
        assert data.frame[item].tolist() == df[item].tolist()
    assert (data.frame["role"] == "teacher").all()


def test_statistics_definitions():
    # School A: answers 1, 1, 5 (a pocket: mean < 3 with a high answer); school B: 4, 4, 4.
    frame = pd.DataFrame({"district": "d", "school": ["A"] * 3 + ["B"] * 3, "wave": 10,
                          "support": pd.array([1, 1, 5, 4, 4, 4], dtype="Int64")})
    t = statistics_table(frame).set_index("statistic")["value"]
    assert t["mean"] == pytest.approx(19 / 6)
    assert t["school_sd"] == pytest.approx(np.std([7 / 3, 4.0]))
    assert t["high_share"] == pytest.approx(4 / 6)
    assert t["pocket_share"] == pytest.approx(0.5)
    # one-way ANOVA ICC by hand
    msw = ((1 - 7 / 3) ** 2 * 2 + (5 - 7 / 3) ** 2) / 4
    msb = 3 * ((7 / 3 - 19 / 6) ** 2 + (4 - 19 / 6) ** 2) / 1
    var_b = (msb - msw) / 3
    assert t["icc"] == pytest.approx(var_b / (var_b + msw))


def test_icc_separates_clustered_from_mixed_schools():
    rng = np.random.default_rng(0)
    schools = np.repeat(np.arange(10), 8)
    clustered = np.where(schools < 5, 5, 1)
    mixed = rng.permutation(clustered)
    for answers, lo, hi in ((clustered, 0.99, 1.0), (mixed, 0.0, 0.2)):
        frame = pd.DataFrame({"district": "d", "school": schools, "wave": 0, "rigor": answers})
        icc = statistics_table(frame, statistics=["icc"])["value"].iloc[0]
        assert lo <= icc <= hi


def test_docs_list_every_item():
    text = (REPO_ROOT / "docs" / "survey.md").read_text()
    for item, (statement, latent) in ITEMS.items():
        assert f"| `{item}` | {statement} | {latent} |" in text


def test_cli_exit_status(tmp_path):
    good = write(tmp_path, csv_text(*GOOD_ROWS), "good.csv")
    bad = write(tmp_path, csv_text(GOOD_ROWS[0], "r1,d1,s1,20,teacher,3,3"), "bad.csv")
    ok = subprocess.run([sys.executable, "-m", "sim.inputs.survey", str(good)], capture_output=True, text=True,
                        cwd=REPO_ROOT)
    assert ok.returncode == 0 and "3 respondents" in ok.stdout
    no = subprocess.run([sys.executable, "-m", "sim.inputs.survey", str(bad)], capture_output=True, text=True,
                        cwd=REPO_ROOT)
    assert no.returncode == 2
    assert "duplicate respondent id 'r1'" in no.stderr and "Traceback" not in no.stderr


# -- initialization from a survey -----------------------------------------------------------

def init_survey(tmp_path: Path) -> Path:
    rows = ["respondent_id,district,school,wave,role,capacity,autonomy,support"]
    rows += [f"a{i},d,0,0,teacher,5,5,5" for i in range(3)]          # school 0: high
    rows += [f"b{i},d,1,0,teacher,{1 + i % 2},1,1" for i in range(4)]  # school 1: low
    rows += ["c0,d,1,10,teacher,5,5,5"]                               # a later wave: not used
    return write(tmp_path, "\n".join(rows) + "\n", "init.csv")


def test_init_from_survey_sets_school_trait_distributions(tmp_path):
    path = init_survey(tmp_path)
    m = build_model(load_config("baseline", ["district.schools=3", "district.teachers_per_school=300",
                                             f"init.survey={path}"]), seed=1)
    t = m.teacher_table().groupby("school")[["capacity", "autonomy"]].mean()
    ts = m.teachers_state
    base = ts.support_base.reshape(3, -1).mean(1)
    flex = m.schools_state.flexibility[0]
    assert t.loc[0, "capacity"] == pytest.approx(1.0, abs=0.02)          # answers 5 -> latent 1
    assert t.loc[1, "capacity"] == pytest.approx(0.125, abs=0.03)        # answers 1/2 -> latent 1/8
    assert t.loc[1, "autonomy"] == pytest.approx(0.0, abs=0.02)
    assert t.loc[0, "autonomy"] == pytest.approx(min(1.0, 1.0 / flex), abs=0.02)
    assert base[0] == pytest.approx(1.0 - m.schools_state.extra_support[0], abs=0.03)
    # school 2 has no respondents: the priors
    p = m.p.teacher
    assert t.loc[2, "capacity"] == pytest.approx(p.capacity_mean, abs=0.03)
    assert ts.capacity.reshape(3, -1)[2].std() == pytest.approx(p.capacity_sd, abs=0.02)
    # new hires in school 0 are drawn from the survey too
    m.init_teachers(np.arange(0, 300))
    assert ts.capacity[:300].mean() == pytest.approx(1.0, abs=0.02)


def test_init_survey_refuses_more_schools_than_the_model(tmp_path):
    with pytest.raises(SurveyDataError, match="has 2 schools but the model has district.schools=1"):
        build_model(load_config("baseline", ["district.schools=1", f"init.survey={init_survey(tmp_path)}"]), seed=1)


def test_without_init_survey_the_model_is_unchanged():
    a = sim.simulate(seed=5, overrides=["district.schools=3", "steps=5"])
    b = sim.simulate(seed=5, overrides=["district.schools=3", "steps=5", "init.survey=''"])
    pd.testing.assert_frame_equal(a, b)
