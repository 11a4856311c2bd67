"""``python -m benchmarks.lab_overhead``: what the lab's scheduler itself costs.

8 devices × 10 jobs whose device work is 1 s each, through ``FakeTransport`` + ``FakeDevice``: with
perfect scheduling the jobs end after 10 s (each device runs its 10 jobs one after the other, all
devices at once). Everything else the lab does per job — leases, attempts and samples written to a
SQLite store, the probe, staging, parsing the runner's report — shows up as time beyond that. The
artifacts are built before the clock starts (they are cached between runs anyway), and the devices
start healthy, as in a lab that has been running. Writes ``benchmarks/results/lab-overhead.json``.
"""

from __future__ import annotations

import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import click
import torch

from edgeq.device import Inventory
from edgeq.lab.plan import LabRequest
from edgeq.lab.scheduler import LabRun
from edgeq.lab.store import open_store
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice

RESULTS = Path(__file__).resolve().parent / "results" / "lab-overhead.json"
_WIDTHS = (16, 24, 32, 40, 48)  # five small models × fp32 and dynamic int8 = 10 jobs a device


def tiny_mlp(width: int) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(width)
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 4))
    return model, (torch.randn(1, width),)


def _models_file(folder: Path) -> list[str]:
    path = folder / "tiny_models.py"
    path.write_text("from benchmarks.lab_overhead import tiny_mlp\n\n" + "".join(
        f"def mlp{width}():\n    return tiny_mlp({width})\n\n" for width in _WIDTHS))
    return [f"{path}:mlp{width}" for width in _WIDTHS]


def measure(devices: int, work_s: float, folder: Path) -> dict[str, float]:
    inventory_path = folder / "edgeq-lab.toml"
    inventory_path.write_text("".join(f'[devices.fake-{i}]\nprofile = "host"\nhost = "fake-{i}"\n' for i in range(devices)))
    inventory = Inventory.load(inventory_path)
    store = open_store(f"sqlite:///{folder / 'lab.db'}", default_path=folder / "lab.db")
    store.sync_devices([(e.name, e.profile, []) for e in inventory.devices.values()])
    for name in inventory.devices:
        store.set_health(name, "good", "")
    request = LabRequest(models=tuple(_models_file(folder)), schemes=("none", "dynamic"), runs=20, warmup=2)
    lab = LabRun(inventory, request, store,
                 transport_factory=lambda entry, profile: FakeTransport(FakeDevice(work_s=work_s, seed=hash(entry.name))))
    start = time.perf_counter()
    run_id = lab.prepare()
    built = time.perf_counter()
    lab.execute()
    done = time.perf_counter()
    run = store.run(run_id)
    states = sorted({job.state for job in run.jobs})
    if states != ["done"]:
        raise click.ClickException(f"the jobs ended {states}, not all done: {[j.reason for j in run.jobs if j.reason][:3]}")
    jobs_per_device = len(run.jobs) / devices
    return {"devices": devices, "jobs": len(run.jobs), "work_s": work_s, "build_s": built - start,
            "wall_s": done - built, "ideal_s": jobs_per_device * work_s}


@click.command()
@click.option("--devices", default=8, show_default=True)
@click.option("--work-s", default=1.0, show_default=True, help="Device work per job, seconds.")
def main(devices: int, work_s: float) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the generated model file imports benchmarks
    with tempfile.TemporaryDirectory(prefix="edgeq-lab-overhead-") as folder:
        figures = measure(devices, work_s, Path(folder))
    figures.update(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   machine={"arch": platform.machine(), "python": platform.python_version()},
                   overhead_s=figures["wall_s"] - figures["ideal_s"])
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    click.echo(f"{figures['jobs']} jobs on {devices} devices, {work_s:g} s of device work each: "
               f"{figures['wall_s']:.2f} s wall time against the {figures['ideal_s']:.0f} s ideal "
               f"(+{figures['overhead_s']:.2f} s; the builds before took {figures['build_s']:.1f} s)")
    click.echo(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
