"""A lab worker in its own OS process, its devices pretend ones (``FakeDevice``): what a lab host runs, for tests.

    python tests/support/lab_worker_process.py INVENTORY STORE_URL NAME DEVICE... [--work-s S] [--lease-ttl S] [--local]

It is ``edgeq lab worker`` with one difference: the devices answer from Python, so a test can run hundreds
of jobs, kill the process, pause it, or take its store away. With ``--local`` the devices are this machine
instead (``LocalTransport``: real runner processes, which the lease's watchdog can stop). Signals behave as in the CLI: SIGTERM drains,
a second SIGTERM hands running jobs back. Each event is one line on stderr; the last line on stdout is
``refused N``, the late results the store refused.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from edgeq.device import Inventory
from edgeq.lab.store import open_store
from edgeq.lab.worker import WorkerOptions, run_worker
from edgeq.transport import FakeTransport, LocalTransport
from edgeq.transport.fake_device import FakeDevice


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inventory", type=Path)
    parser.add_argument("store")
    parser.add_argument("name")
    parser.add_argument("devices", nargs="+")
    parser.add_argument("--work-s", type=float, default=0.0)
    parser.add_argument("--lease-ttl", type=float, default=10.0)
    parser.add_argument("--idle-exit", type=float, default=None)
    parser.add_argument("--local", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
    drain, stop = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set() if drain.is_set() else drain.set())

    def say(event) -> None:  # noqa: ANN001
        if event.state not in ("idle", "building"):
            print(args.name, event.device, event.state, event.job or "", event.message, file=sys.stderr, flush=True)

    worker = run_worker(Inventory.load(args.inventory), open_store(args.store, default_path=None),
                        devices=tuple(args.devices), transport_factory=lambda entry, profile: LocalTransport()
                        if args.local else FakeTransport(FakeDevice(work_s=args.work_s, seed=hash(entry.name) % 1000)),
                        options=WorkerOptions(name=args.name, lease_ttl_s=args.lease_ttl, poll_s=0.2,
                                              idle_exit_s=args.idle_exit),
                        progress=say, drain=drain, stop=stop)
    print(f"refused {worker.refused}", flush=True)


if __name__ == "__main__":
    main()
