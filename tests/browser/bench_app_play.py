"""Benchmark (not a test): how fast the workshop app plays, side by side with the baseline.

Two measurements per district size:

* server only: the app's play loop (:func:`sim.app.page.play_loop`) at
  "fastest", with every frame drawn as the page draws it (district picture
  and three charts, blitted, PNG-encoded) in another thread; reports school
  months per second and frames per second;
* in Chromium: ``sim-app`` is started, the page opened on a link with the
  settings, speed "fastest", played for ``--seconds`` and paused; reports
  the school months per second the page's status line advanced and the
  district pictures per second the browser displayed.

Run: ``python tests/browser/bench_app_play.py [--seconds 10] [--schools 50 200]``
(needs /usr/bin/chromium for the browser numbers). Prints one line per number
plus the machine's load average, since timings on a shared machine vary.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

LINK = "?scenario=henry_all_in&seed=1&schools={schools}"


def server_only(schools: int, seconds: float) -> tuple[float, float]:
    """(school months/s, frames/s) of the play loop with real drawing, no browser."""
    from sim.app.page import Session, play_loop
    from sim.app.state import Settings, WorkshopModel, events
    from sim.app.views import CHARTS, Chart, DistrictPicture

    session = Session()
    model = session.model = WorkshopModel(Settings.from_values(scenario="henry_all_in", seed=1, schools=schools))
    picture = DistrictPicture(model.runs())
    charts = [Chart(name, [label for label, _ in model.runs()], model.p.steps) for name in CHARTS]
    frames, cancel = [0], threading.Event()

    def draw() -> None:
        with session.lock:  # as the page does (sim.app.page.Figures): copy state under the lock, draw outside
            picture.update()
            data = {label: m.timeseries() for label, m in model.runs()}
            evs = events(model)
            for chart in charts:
                chart.update(data, events=evs)
        picture.png()
        for chart in charts:
            chart.png()
        frames[0] += 1
        session.drawn.set()

    def on_frame(step: int) -> None:
        threading.Thread(target=draw).start()

    start = time.perf_counter()
    loop = threading.Thread(target=play_loop, args=(session, 0.0, on_frame, cancel))
    loop.start()
    cancel.wait(seconds)
    cancel.set()
    loop.join()
    elapsed = time.perf_counter() - start
    return model.steps / elapsed, frames[0] / elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_browser(schools: int, seconds: float) -> tuple[float, float]:
    """(school months/s shown by the status line, district pictures/s displayed) playing in Chromium."""
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.app", f"port={port}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(360):
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu",
                                               "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(180_000)
            page.goto(url + LINK.format(schools=schools))
            status = page.locator(".sim-status-chosen")
            expect(status).to_contain_text("Before year 1", timeout=180_000)
            expect(page.locator("img.sim-district")).to_be_visible(timeout=180_000)
            page.locator(".sim-speed").click()
            page.get_by_role("option", name="fastest", exact=True).click()
            page.evaluate("""() => { window.simFrames = 0; const img = document.querySelector('img.sim-district');
                new MutationObserver(() => window.simFrames++).observe(img, {attributes: true,
                attributeFilter: ['src']}); }""")
            page.get_by_role("button", name="Play", exact=True).click()
            start = time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            page.get_by_role("button", name="Pause", exact=True).click()
            expect(page.get_by_role("button", name="Step", exact=True)).to_be_enabled(timeout=180_000)
            elapsed = time.perf_counter() - start
            shown = page.evaluate("() => window.simFrames")
            text = status.inner_text()
            browser.close()
        year, month = map(int, re.search(r"Year (\d+), month (\d+)", text).groups())
        return ((year - 1) * 10 + month) / elapsed, shown / elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schools", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    for schools in args.schools:
        months, frames = server_only(schools, args.seconds)
        print(f"{schools} schools, server only: {months:.1f} school months/s, {frames:.1f} frames/s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        if not args.no_browser and Path("/usr/bin/chromium").exists():
            months, frames = in_browser(schools, args.seconds)
            print(f"{schools} schools, in Chromium: {months:.1f} school months/s on the status line, "
                  f"{frames:.1f} district pictures/s shown (load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
