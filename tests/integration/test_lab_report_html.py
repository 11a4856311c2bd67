"""The HTML report opened in a real headless Chromium: every plot shows on the page, not a blank box.

How "not blank" is decided: the report draws each plot inside a frame of one color (``FRAME_COLOR``) that
nothing else on the page uses. The test finds those frames in the screenshot as rectangles of that color,
so it does not depend on where the layout puts them, then asks two things of each frame's inside: enough
non-white pixels (something was drawn) and enough saturated ones (the data marks, which are colored; axes,
ticks and text alone are black and grey). A plot whose SVG failed to render leaves a white frame and fails.
One Chromium run for the whole file (a few seconds).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeq.lab.records import Attempt, JobKey, JobRecord, Measurement, RunRecord
from edgeq.lab.reports import Verdict, report_html
from edgeq.lab.reports.html_report import FRAME_COLOR

PLOT_IDS = ("plot-latency", "plot-fp32-int8", "plot-size-quality", "plot-history")
WINDOW = (1400, 4000)
MIN_SIDE = 200  # px: a frame is at least this wide and tall
COLOR_TOLERANCE = 10
# Counts, not fractions: a scatter of a few points is mostly white and still a drawn plot.
MIN_INK = 3000  # non-white pixels inside a frame: something was drawn
MIN_COLOR = 300  # saturated pixels inside a frame: the plotted data, a few markers at least

MODELS = {"mobilenet_v3_small": (40.0, 10_200_000), "resnet18": (160.0, 46_800_000), "minilm": (25.0, 90_900_000)}
DEVICES = {"pi4-a": ("rpi4", 1.0), "nuc-a": ("x86-avx2", 0.1)}
VARIANTS = {"fp32": ("none", 1.0, 1.0, 1.0), "int8-dynamic": ("dynamic", 0.6, 0.27, 0.97),
            "int8-static": ("static", 0.45, 0.26, 0.95)}
STARTED = "2026-12-02T15:00:00+00:00"


def _job(number: int, model: str, device: str, variant: str) -> JobRecord:
    base_ms, base_size = MODELS[model]
    profile, speed = DEVICES[device]
    scheme, faster, smaller, quality = VARIANTS[variant]
    rng = random.Random(number)
    p50_ms = base_ms * speed * faster
    samples = tuple(round(p50_ms * rng.lognormvariate(0, 0.05), 3) for _ in range(40))
    sha = f"{number:064x}"
    measured = Measurement(result_key=f"k{number}", artifact_sha256=sha, device=device, samples_ms=samples,
                           measured_at=STARTED, size_bytes=int(base_size * smaller), metric="top1_agreement",
                           quality=quality, versions={"torch": "2.9.1", "executorch": "1.0.1"})
    attempt = Attempt(1, device, "done", "", STARTED, "2026-12-02T15:02:00+00:00")
    return JobRecord(id=number, run_id="r-3", model=model, profile=profile, scheme=scheme, format="pte", variant=variant,
                     planned_device=device, state="done", device=device, artifact_sha256=sha, attempts=(attempt,),
                     measurement=measured)


def _run() -> RunRecord:
    cells = [(model, device, variant) for model in MODELS for device in DEVICES for variant in VARIANTS]
    jobs = [_job(number, *cell) for number, cell in enumerate(cells, start=1)]
    jobs[-1] = replace(jobs[-1], state="failed", reason="ExportError: no kernel", measurement=None)  # a gap in a panel
    return RunRecord(id="r-3", label="nightly", started_at=STARTED, status="finished", args={}, jobs=tuple(jobs))


def _history(run: RunRecord) -> dict:
    """Three earlier runs of mobilenet's jobs; the other models have none, as when a model is new."""
    days = ("2026-11-26", "2026-11-28", "2026-11-30")

    def earlier(job: JobRecord) -> list[tuple[str, str, float]]:
        return [(f"r-{index}", f"{day}T15:00:00+00:00", job.measurement.samples_ms[index] * 0.97)
                for index, day in enumerate(days)]

    return {job.key: earlier(job) for job in run.jobs if job.measurement and job.model == "mobilenet_v3_small"}


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is needed to open the HTML report: "
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium "
                    "(.ci/run installs it)")
    return found


def _screenshot(page: Path, out: Path) -> np.ndarray:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--force-device-scale-factor=1", "--run-all-compositor-stages-before-draw",
               f"--user-data-dir={out.parent / 'chromium-profile'}", f"--screenshot={out}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out.exists(), f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    from matplotlib.image import imread

    pixels = imread(out)[..., :3]  # PNG as floats in [0, 1]
    return np.round(pixels * 255).astype(np.int16)


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[index:index + 2], 16) for index in (1, 3, 5)], dtype=np.int16)


def _runs(line: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True at least MIN_SIDE long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], line.astype(np.int8), [0]))))
    return [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2]) if stop - start >= MIN_SIDE]


def find_frames(image: np.ndarray, color: str) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of every rectangle outlined in ``color``, top to bottom."""
    mask = np.all(np.abs(image - _hex_rgb(color)) <= COLOR_TOLERANCE, axis=-1)
    edges = []  # the first row of each horizontal edge; a 2 px border's second row is skipped
    previous: list[tuple[int, int]] = []
    for y in range(mask.shape[0]):
        runs = _runs(mask[y]) if mask[y].sum() >= MIN_SIDE else []
        edges += [(y, start, stop) for start, stop in runs if (start, stop) not in previous]
        previous = runs
    frames, used = [], set()
    for index, (top, left, right) in enumerate(edges):
        if index in used:
            continue
        for other in range(index + 1, len(edges)):
            bottom, other_left, other_right = edges[other]
            sides = mask[top:bottom, left].mean(), mask[top:bottom, right - 1].mean()
            if (other_left, other_right) == (left, right) and bottom - top >= MIN_SIDE and min(sides) > 0.95:
                frames.append((top, left, bottom, right))
                used.update({index, other})
                break
    return frames


def ink(image: np.ndarray, frame: tuple[int, int, int, int], inset: int = 6) -> tuple[int, int]:
    """How many pixels of the frame's inside are non-white, and how many are saturated color."""
    top, left, bottom, right = frame
    inside = image[top + inset:bottom - inset, left + inset:right - inset]
    non_white = np.any(inside < 235, axis=-1).sum()
    colored = ((inside.max(axis=-1) - inside.min(axis=-1)) > 60).sum()
    return int(non_white), int(colored)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[str, np.ndarray]:
    """The report of a 3 models × 2 devices × 3 variants run with history, and its screenshot."""
    run = _run()
    folder = tmp_path_factory.mktemp("lab-report")
    html = report_html(run, history=_history(run),
                       comparisons={JobKey("resnet18", "nuc-a", "x86-avx2", "int8-dynamic", "pte"):
                                    Verdict("slower", 1.3, "median 30 % slower")})
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return html, _screenshot(path, folder / "report.png")


@pytest.mark.slow
def test_chromium_shows_every_plot_of_the_report(page):
    html, image = page
    assert re.findall(r'<figure id="(plot-[\w-]+)">\s*<div class="plot-area">', html) == list(PLOT_IDS)
    frames = find_frames(image, FRAME_COLOR)
    assert len(frames) == len(PLOT_IDS), f"found {len(frames)} plot frames in the screenshot: {frames}"
    for plot_id, frame in zip(PLOT_IDS, frames):
        non_white, colored = ink(image, frame)
        assert non_white > MIN_INK and colored > MIN_COLOR, (
            f"{plot_id} at {frame} looks blank: {non_white} non-white, {colored} colored pixels")


def _synthetic(blob: bool) -> np.ndarray:
    image = np.full((600, 800, 3), 255, dtype=np.int16)
    image[100:102, 50:750] = image[498:500, 50:750] = _hex_rgb(FRAME_COLOR)
    image[100:500, 50:52] = image[100:500, 748:750] = _hex_rgb(FRAME_COLOR)
    image[300:302, 60:740] = 0  # an axis line: ink, but no data
    image[320:330, 60:400] = 90  # grey text
    if blob:
        image[200:300, 200:400] = (31, 119, 180)  # matplotlib's first color
    return image


def test_the_blank_check_finds_a_frame_and_tells_an_empty_plot_from_a_drawn_one():
    for blob, expected in ((False, False), (True, True)):
        image = _synthetic(blob)
        (frame,) = find_frames(image, FRAME_COLOR)
        assert frame == (100, 50, 498, 750)
        non_white, colored = ink(image, frame)
        assert (non_white > MIN_INK and colored > MIN_COLOR) is expected
