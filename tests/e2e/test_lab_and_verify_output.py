"""What `edgeq lab devices` and `edgeq verify` print on real pseudo-terminals of 60 and 80 columns: every row
whole, long reasons and details wrapped rather than cut to "…", a device's text printed as it is."""

import sys

import pytest
from terminal import run_in_terminal

from edgeq.lab.store import open_store

pytestmark = pytest.mark.slow

EDGEQ = [sys.executable, "-m", "edgeq"]
REASON = "health check failed: golden p50 9.87 ms is outside the device's band 2.1–4.2 ms [bold]fan[/] stuck"


@pytest.mark.parametrize("columns", [60, 80])
def test_lab_devices_fits_the_terminal_and_keeps_the_whole_reason(tmp_path, columns):
    inventory = tmp_path / "edgeq-lab.toml"
    inventory.write_text('[devices.pi-desk-1]\nprofile = "rpi5"\nhost = "pi-1"\ntags = ["desk", "arm"]\n'
                         '[devices.pi-desk-2]\nprofile = "rpi5"\nhost = "pi-2"\n')
    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    store.sync_devices([("pi-desk-1", "rpi5", ["desk", "arm"]), ("pi-desk-2", "rpi5", [])])
    store.set_health("pi-desk-1", "quarantined", REASON)
    store.close()
    screen = run_in_terminal([*EDGEQ, "lab", "devices", "--inventory", str(inventory)], columns)
    assert screen.returncode == 0, screen.text
    assert all(len(line) <= columns for line in screen.lines) and not any("…" in line for line in screen.lines)
    for device in ("pi-desk-1", "pi-desk-2"):
        assert any(line.strip().startswith(device) for line in screen.lines), screen.text
    shown = " ".join(" ".join(line.split()) for line in screen.lines)
    for word in REASON.split():  # wrapped over lines, every word of it there, markup included
        assert word in shown, (word, screen.text)


@pytest.mark.parametrize("columns", [60, 80])
def test_verify_fits_the_terminal_and_keeps_each_problem_whole(tmp_path, columns):
    bundle = tmp_path / "digits-1.0.0"
    (bundle / "models").mkdir(parents=True)
    (bundle / "models" / "model.pte").write_bytes(b"changed in transit")
    (bundle / "SHA256SUMS").write_text(f"{'0' * 64}  models/model.pte\n{'1' * 64}  models/[bold]gone[/].pt\n")
    (bundle / "manifest.json").write_text('{"format": "edgeq-release/1", "files": []}')
    screen = run_in_terminal([*EDGEQ, "verify", str(bundle)], columns)
    assert screen.returncode == 1, screen.text
    table = screen.lines[next(i for i, line in enumerate(screen.lines) if "verify digits-1.0.0" in line):
                         next(i for i, line in enumerate(screen.lines) if "problem(s)" in line)]
    assert all(len(line) <= columns for line in table), screen.text
    subjects, details = _column(table, "subject", "result"), _column(table, "detail", None)
    assert "models/[bold]gone[/].pt" in subjects, screen.text  # wrapped over two lines, never cut
    for whole in ("missing:listedinSHA256SUMSbutnotinthebundle", "changed:sha256",
                  "notchecked:thechecksumsfailed;nothingfromthebundlewasloaded"):
        assert whole in details, (whole, screen.text)


def _column(table: list[str], header: str, next_header: str | None) -> str:
    """One column's text, its cells' wrapped lines joined again (spaces dropped)."""
    head = next(line for line in table if header in line.split())
    start = head.index(header)
    end = head.index(next_header) if next_header else None
    return "".join(line[start:end] for line in table[table.index(head) + 2:]).replace(" ", "")
