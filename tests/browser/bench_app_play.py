"""Benchmark (not a test): how fast the workshop app plays a 50-school district.

Two numbers:

* server frame time (wall clock and CPU): one model step of the chosen
  settings and the baseline twin plus re-rendering every view, measured
  in-process with ``solara.render`` (no browser, no network);
* playing in Chromium: ``sim-app`` is started, the page is reset to
  side-by-side settings and played for ``--seconds``; reported are the steps
  the server made per second and the district pictures per second the
  browser actually displayed during play (it may lag on a busy machine).

Run: ``python tests/browser/bench_app_play.py [--seconds 10] [--schools 50]``
(needs /usr/bin/chromium for the second number). Prints one line per number
plus the machine's load average, since timings on a shared machine vary.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SETTINGS = {"coaching": 1.0, "goal_clarity": 0.8, "knowledge": "plan"}


def server_frame_time(schools: int, frames: int = 30) -> tuple[float, float]:
    import solara
    from mesa.visualization.solara_viz import SolaraViz
    from mesa.visualization.utils import force_update

    import sim.app.page as app

    model = app.AppModel(schools=schools, **SETTINGS)
    _, rc = solara.render(SolaraViz(model, components=app.COMPONENTS, model_params=app.model_params()),
                          handle_error=False)
    for _ in range(3):
        model.step()
        force_update()
    t, cpu = time.perf_counter(), time.process_time()
    for _ in range(frames):
        model.step()
        force_update()
    rc.close()
    return (time.perf_counter() - t) / frames, (time.process_time() - cpu) / frames


def browser_steps_per_second(schools: int, seconds: float) -> tuple[float, float]:
    from playwright.sync_api import expect, sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "sim.app", f"port={port}", f"out={tempfile.mkdtemp()}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                tempfile.mkdtemp(), executable_path="/usr/bin/chromium", headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu"], viewport={"width": 1600, "height": 1200})
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            expect(page.locator(".sim-status-chosen")).to_be_visible(timeout=120_000)
            for name, presses in (("Coaching (FTE/school)", 10), ("Goal clarity (0-1)", 10)):
                page.get_by_role("slider", name=name).focus()
                for _ in range(presses):
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(250)
                page.keyboard.press("Tab")
            page.get_by_role("button", name="Reset", exact=True).click()
            expect(page.locator(".sim-status-baseline")).to_be_visible(timeout=120_000)
            counter = page.get_by_text(re.compile(r"^Time: \d+\.0$"))  # SolaraViz's "Information" card (model.time)

            def steps() -> int:
                return round(float(counter.first.inner_text().split(":")[1]))

            # Count the district pictures the browser actually shows (src changes), with their times.
            page.evaluate("""() => { window.__shown = [];
                const img = document.querySelector('img.sim-district');
                new MutationObserver(() => window.__shown.push(performance.now()))
                    .observe(img, {attributes: true, attributeFilter: ['src']}); }""")
            start = steps()
            t0_page, t0 = page.evaluate("performance.now()"), time.monotonic()
            play = page.get_by_role("button", name="▶", exact=True)
            box = play.bounding_box()
            play.click()
            page.wait_for_timeout(1000 * seconds)
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # ❚❚, as input event
            t1 = time.monotonic()
            end, since = steps(), time.monotonic()
            while time.monotonic() - since < 2:
                page.wait_for_timeout(250)
                if steps() != end:
                    end, since = steps(), time.monotonic()
            shown = page.evaluate(f"window.__shown.filter(t => t <= {t0_page + 1000 * (t1 - t0)}).length")
            browser.close()
        return (end - start) / (t1 - t0), shown / (t1 - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    frame, cpu = server_frame_time(args.schools)
    print(f"server frame (step + all views, side by side, {args.schools} schools): {1000 * frame:.0f} ms wall "
          f"= {1 / frame:.1f} frames/s, {1000 * cpu:.0f} ms CPU; load average {load:.1f} on {os.cpu_count()} cores")
    if Path("/usr/bin/chromium").exists():
        rate, shown = browser_steps_per_second(args.schools, args.seconds)
        print(f"playing in Chromium (play interval 20 ms, render every step): server {rate:.1f} steps/s, "
              f"browser shows {shown:.1f} pictures/s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
