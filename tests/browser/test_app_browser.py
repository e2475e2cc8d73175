"""The workshop app in a real browser: start ``sim-app``, drive it with Playwright and system Chromium.

The server runs on a configuration directory copied from ``scenarios/`` plus
one test-only preset (``workshop_test``: cohorts and a withdrawal within the
first year, so events come quickly), which also shows that the page offers the
presets found at run time. Expected numbers come from ``sim.simulate`` run on
the same configuration, settings and seed. Screenshots of each state are saved
under ``results/app_browser/`` (CI artifacts; docs/app.md shows copies).

Every wait is on the page's state, with generous timeouts for a loaded machine.
Needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs
it). Without it the tests fail when ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from sim.app.state import Settings, status_line, when
from sim.config import REPO_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SHOTS = REPO_ROOT / "results" / "app_browser"
#: Generous waits: CI machines are shared and slow; every assertion is still exact.
TIMEOUT_MS = 120_000
TEST_PRESET = """# @package _global_
# workshop_test: a test-only preset written by tests/browser/test_app_browser.py.
# Two cohorts four months apart; the district reviews results every two months and soon backs away.
policy:
  goal_clarity: 0.9
  pl_priority: 1.0
knowledge:
  mode: plan
rollout:
  mode: waves
  cohorts: [0.5, 0.5]
  start_step: 0
  cohort_interval: 4
  planning_steps: 0
backaway:
  enabled: true
  review_every: 2
  min_adoption: 1.0
  grace_steps: 4
"""
SEED, SCHOOLS, COACHING, STEPS = 7, 20, 0.5, 8
LINK = f"?scenario=workshop_test&seed={SEED}&schools={SCHOOLS}&policy.coaching_fte={COACHING}"
EXPECT_SCRIPT = """
import json, sys
from sim import simulate
runs = json.loads(sys.argv[1])
print(json.dumps({k: simulate(r["scenario"], seed=r["seed"], overrides=r["overrides"]).to_dict("list")
                  for k, r in runs.items()}))
"""


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium; .ci/run does this)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI needs the browser test: " + message)
    pytest.skip(message + " (the test is required when CI=true)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    """scenarios/ plus the test-only preset."""
    d = tmp_path_factory.mktemp("config") / "scenarios"
    shutil.copytree(REPO_ROOT / "scenarios", d)
    (d / "scenario" / "workshop_test.yaml").write_text(TEST_PRESET)
    return d


def _env(config_dir: Path) -> dict[str, str]:
    return {**os.environ, "SIM_CONFIG_DIR": str(config_dir),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def server(config_dir, tmp_path_factory):
    """``python -m sim.app port=<free>`` on 127.0.0.1; yields (url, log); stopped at the end."""
    _require_chromium()
    port = _free_port()
    log = (tmp_path_factory.mktemp("log") / "server.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "sim.app", f"port={port}"], cwd=REPO_ROOT,
                            env=_env(config_dir), stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"sim-app exited with {proc.returncode}:\n{log.read()}")
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("sim-app did not answer within 180 s")
            time.sleep(0.5)  # polling a starting server (not a wait for page state)
        log.seek(0)
        assert f"http://127.0.0.1:{port}/" in log.read(), "sim-app should print its address"
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def expected(config_dir) -> dict:
    """sim.simulate of the linked settings and of the baseline, same seed."""
    s = Settings(scenario="workshop_test", seed=SEED, schools=SCHOOLS)
    runs = {"chosen": {"scenario": "workshop_test", "seed": SEED,
                       "overrides": [f"district.schools={SCHOOLS}", f"policy.coaching_fte={COACHING}", "steps=60"]},
            "baseline": {"scenario": "baseline", "seed": SEED, "overrides": [*s.reference().overrides(), "steps=60"]}}
    proc = subprocess.run([sys.executable, "-c", EXPECT_SCRIPT, json.dumps(runs)], cwd=REPO_ROOT,
                          env=_env(config_dir), capture_output=True, text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def _row(frame: dict, step: int) -> dict:
    return {col: values[step] for col, values in frame.items()}


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh 1280x720 tab; at the end its last state is saved (``last_<test>.png``) and, for a failure
    report, its text and the server log are printed (pytest shows them only for failing tests)."""
    url, log = server
    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    yield p
    try:
        p.screenshot(path=str(SHOTS / f"last_{request.node.name}.png"))
        log.seek(0)
        print(f"Page text at the end:\n{p.locator('body').inner_text()}\nServer log:\n{log.read()[-5000:]}")
    finally:
        context.close()


def _open(page, url: str):
    from playwright.sync_api import expect

    page.goto(url)
    status = page.locator(".sim-status-chosen")
    expect(status).to_be_visible()
    return status


def test_a_shared_link_opens_its_run_and_a_reload_keeps_it(page, server, expected):
    from playwright.sync_api import expect

    url, _ = server
    status = _open(page, url + LINK)
    chosen, base = expected["chosen"], expected["baseline"]
    expect(status).to_have_text(f"Your settings: {status_line(_row(chosen, 0), SCHOOLS)}")
    expect(page.locator(".sim-value-coaching")).to_have_text(
        "Coaching: 0.5 FTE/school (moved; workshop_test has 0 FTE/school)")
    expect(page.locator(".sim-scenario-title")).to_have_text("A test-only preset written by "
                                                             "tests/browser/test_app_browser.py")
    step = page.get_by_role("button", name="Step", exact=True)
    for k in range(1, STEPS + 1):
        step.click()
        expect(status).to_contain_text(f"{when(k)}:")
    expect(status).to_have_text(f"Your settings: {status_line(_row(chosen, STEPS), SCHOOLS)}")
    expect(page.locator(".sim-status-baseline")).to_have_text(f"Baseline: {status_line(_row(base, STEPS), SCHOOLS)}")
    page.screenshot(path=str(SHOTS / "shared_link.png"))
    # The address is the full, normalized link; a reload opens the same settings (a new run from month 0).
    assert page.url == url + LINK
    page.reload()
    expect(status).to_have_text(f"Your settings: {status_line(_row(chosen, 0), SCHOOLS)}")
    expect(page.locator(".sim-value-coaching")).to_contain_text("Coaching: 0.5 FTE/school (moved")


def test_levers_show_their_values_and_follow_the_preset(page, server):
    from playwright.sync_api import expect

    url, _ = server
    _open(page, url + "?scenario=baseline&seed=1&schools=20")
    expect(page.locator(".sim-value-goal_clarity")).to_have_text("Goal clarity: 0.3 on a 0-1 scale (as the preset)")
    page.locator(".sim-scenario-select").click()
    page.get_by_role("option", name="henry_all_in", exact=True).click()
    expect(page.locator(".sim-value-goal_clarity")).to_have_text("Goal clarity: 0.8 on a 0-1 scale (as the preset)")
    expect(page.locator(".sim-value-coaching")).to_have_text("Coaching: 0.5 FTE/school (as the preset)")
    expect(page.locator(".sim-value-knowledge")).to_have_text("Knowledge management: plan (as the preset)")
    expect(page.locator(".sim-scenario-title")).to_have_text("Henry County, Georgia, the report's \"all in\" district")
    expect(page.locator(".sim-status-chosen")).to_contain_text("Before year 1")
    page.wait_for_url("**scenario=henry_all_in**")
    page.screenshot(path=str(SHOTS / "preset_chosen.png"))


def test_an_event_is_named_in_the_status_line_and_the_layout_fits_1280x720(page, server, expected):
    from playwright.sync_api import expect

    url, _ = server
    _open(page, url + LINK)
    page.get_by_role("button", name="Play", exact=True).click()
    event = page.locator(".sim-event")
    withdrawal = expected["chosen"]["backed_away"].index(1)  # the month the model decided to back away
    expect(event).to_contain_text(f"Latest event: {when(withdrawal)}: ")
    expect(event).to_contain_text("the district backs away")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_role("button", name="Step", exact=True)).to_be_enabled()
    expect(page.locator(".sim-band-note")).to_contain_text("Shaded:")
    viewport = page.viewport_size
    for selector in (".sim-status-chosen", ".sim-event", ".sim-headline", "img.sim-district",
                     "img.sim-chart-image-adoption", "img.sim-chart-image-schools", ".sim-download"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["y"] >= 0, selector
        assert box["x"] + box["width"] <= viewport["width"] + 1, selector
        assert box["y"] + box["height"] <= viewport["height"] + 1, selector
    better = page.locator(".sim-headline td.better, .sim-headline td.worse")
    assert better.count() > 0 and all(t.endswith(("better", "worse")) for t in better.all_inner_texts())
    page.screenshot(path=str(SHOTS / "event_1280x720.png"))
    page.locator(".sim-presenter-toggle").click()
    expect(page.locator(".sim-presenter")).to_have_count(1)
    expect(page.locator(".sim-panel")).to_be_hidden()
    page.screenshot(path=str(SHOTS / "presenter_1280x720.png"))


def test_the_download_is_a_zip_with_the_runs_csv_figures_and_handout(page, server, expected):
    from playwright.sync_api import expect

    url, _ = server
    status = _open(page, url + LINK)
    step = page.get_by_role("button", name="Step", exact=True)
    for k in range(1, 4):
        step.click()
        expect(status).to_contain_text(f"{when(k)}:")
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.locator(".sim-download").click()
    download = info.value
    assert download.suggested_filename.endswith(f"_workshop_test_seed{SEED}_step3.zip")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as zf:
        names = set(zf.namelist())
        assert {"comparison.csv", "handout.pdf", "district.png", "adoption.png", "provenance.yaml"} <= names
        df = pd.read_csv(io.BytesIO(zf.read("comparison.csv")))
        assert zf.read("handout.pdf").startswith(b"%PDF")
    last = df[df["step"] == 3].set_index("run")
    assert last.loc["your settings", "teacher_adoption"] == pytest.approx(expected["chosen"]["teacher_adoption"][3])
    assert last.loc["baseline", "teacher_adoption"] == pytest.approx(expected["baseline"]["teacher_adoption"][3])


class _Foreign(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<html><body>another site</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


WS_PROBE = """url => new Promise(resolve => {
  const ws = new WebSocket(url);
  ws.onopen = () => { resolve("open"); ws.close(); };
  ws.onerror = () => resolve("refused");
})"""


def test_only_the_apps_own_pages_may_open_its_websocket(page, server):
    url, _ = server
    ws_url = url.replace("http://", "ws://") + "jupyter/api/kernels/probe/channels?session_id=probe"
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{foreign.server_address[1]}/")
        assert page.evaluate(WS_PROBE, ws_url) == "refused"
        _open(page, url)
        assert page.evaluate(WS_PROBE, ws_url) == "open"  # the same probe from the app's own page
    finally:
        foreign.shutdown()
    request = urllib.request.Request(url, headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=30)
    assert exc.value.code == 400
