"""A lab across hosts: worker processes share one real PostgreSQL queue (Debian's server, started unprivileged).

Each worker is its own OS process (``tests/support/lab_worker_process.py``: ``edgeq lab worker`` whose devices
answer from Python), so a test can SIGKILL one, SIGSTOP it past its lease, or take the database away, and then
read in the store what became of every job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edgeq_cli import edgeq
from junitparser import JUnitXml
from netns import NetworkHost
from postgres import PostgresServer
from sqlalchemy import func, select

from edgeq.device import Inventory
from edgeq.lab.plan import LabRequest
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import open_store
from edgeq.lab.store.schema import measurements
from edgeq.lab.submission import submit, wait_for
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice

pytestmark = pytest.mark.slow

SUPPORT = Path(__file__).resolve().parent.parent / "support"
WORKER = SUPPORT / "lab_worker_process.py"
MODELS = tuple(f"{SUPPORT / 'lab_models.py'}:mlp_{name}" for name in "abcde")


def inventory(folder: Path, names: list[str]) -> Path:
    path = folder / "edgeq-lab.toml"
    path.write_text("".join(f'[devices.{name}]\nprofile = "host"\nhost = "{name}"\n' for name in names))
    return path


def healthy(store, names):
    store.sync_devices([(name, "host", []) for name in names])
    for name in names:
        store.set_health(name, "good")


class WorkerProcess:
    """``lab_worker_process.py`` for some devices; its stderr (one line per event) goes to a file."""

    def __init__(self, folder: Path, inventory_path: Path, url: str, name: str, devices: list[str], *,
                 prefix: list[str] = (), env: dict[str, str] | None = None, **options) -> None:
        """``prefix``: run it inside a network namespace (``NetworkHost.prefix``); ``env``: added to its
        environment (which its local devices' commands inherit)."""
        self.name, self.log = name, folder / f"{name}.log"
        argv = [*prefix, sys.executable, str(WORKER), str(inventory_path), url, name, *devices]
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True,
                                        env={**os.environ, **(env or {})})

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout_s: float = 60) -> str:
        """Drain it (SIGTERM) and return what it printed on stdout."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=timeout_s)
        return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture
def workers():
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGCONT)
            worker.kill()


def until(condition, timeout_s: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def running_on(store, run_id, worker_devices):
    return [job for job in store.jobs_for(run_id) if job.state == "running" and job.device in worker_devices]


def test_a_worker_killed_mid_run_loses_nothing_and_its_jobs_finish_on_the_other(tmp_path, postgres_url, workers):
    first, second = [f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]
    path = inventory(tmp_path, first + second)
    store = open_store(postgres_url, default_path=None)
    healthy(store, first + second)
    run_id = submit(Inventory.load(path), LabRequest(models=MODELS, schemes=("none", "dynamic"), runs=5, warmup=1), store)
    assert len(store.jobs_for(run_id)) == 200

    workers.append(WorkerProcess(tmp_path, path, postgres_url, "host-1", first, work_s=0.03, lease_ttl=10))
    workers.append(WorkerProcess(tmp_path, path, postgres_url, "host-2", second, work_s=0.03, lease_ttl=10))
    until(lambda: sum(job.state == "done" for job in store.jobs_for(run_id)) >= 40
          and len(running_on(store, run_id, first)) >= 3, 180, "host-1 to be busy after 40 jobs")
    workers[0].signal(signal.SIGKILL)  # the host loses power: no drain, leases held
    killed_while_running = {job.id for job in running_on(store, run_id, first)}
    assert killed_while_running

    run = wait_for(store, run_id, timeout_s=180)
    assert run.status == "finished" and {job.state for job in run.jobs} == {"done"}
    with store._engine.connect() as connection:  # exactly once: one measurement per job, none extra
        assert connection.execute(select(func.count()).select_from(measurements)).scalar_one() == 200
    for job in run.jobs:
        if job.id in killed_while_running:
            lost, *_, done = job.attempts
            assert lost.device in first and lost.outcome == "infra" and "lost its worker" in lost.reason
            assert done.outcome == "done" and done.device in second and job.measurement.device in second
        else:
            assert [attempt.outcome for attempt in job.attempts] == ["done"]
    assert workers[1].finish().strip() == "refused 0"
    assert {w.name: w.state(lost_after_s=3.0) for w in store.workers()} == {"host-1": "lost", "host-2": "stopped"}


SLOW_PYTHON = """#!{python}
# A board's Python: the benchmark of a job of $EDGEQ_BOARD's waits $EDGEQ_SLOW_S s first, so it is still in
# flight when its worker is paused; its pid is left in $EDGEQ_PIDS for the test to watch.
import os, sys, time
if "--artifact" in sys.argv:
    open(os.path.join(os.environ["EDGEQ_PIDS"], f"{{os.environ['EDGEQ_BOARD']}}-{{os.getpid()}}"), "w").close()
    time.sleep(float(os.environ.get("EDGEQ_SLOW_S", "0")))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def local_boards(folder: Path, names: list[str]) -> Path:
    """Boards that are this machine, reached through LocalTransport: real runner processes under the lease's
    watchdog, timing real artifacts; one profile, so a job may move between them."""
    python = folder / "board-python"
    python.write_text(SLOW_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    from edgeq.profiles import describe_host

    host = describe_host()
    (folder / "slow-board.toml").write_text(
        f'name = "slow-board"\narch = "{host["arch"]}"\nengine = "{host["engine"]}"\ntransport = "local"\n'
        f'formats = ["pte"]\nthreads = 1\npython = "{python}"\nworkdir = "{folder / "boards"}"\n')
    path = folder / "edgeq-lab.toml"
    path.write_text("".join(f'[devices.{name}]\nprofile = "{folder / "slow-board.toml"}"\nhost = "{name}"\n'
                            for name in names))
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_worker_paused_past_its_lease_has_its_board_stopped_and_its_late_result_refused(tmp_path, postgres_url,
                                                                                          workers):
    path = local_boards(tmp_path, ["a0", "b0"])
    pids = tmp_path / "pids"
    pids.mkdir()
    store = open_store(postgres_url, default_path=None)
    healthy(store, ["a0", "b0"])
    store.sync_devices([("a0", "slow-board", []), ("b0", "slow-board", [])])
    run_id = submit(Inventory.load(path), LabRequest(models=MODELS[:1], schemes=("none",), runs=3, warmup=0), store)
    board_env = {"EDGEQ_PIDS": str(pids)}
    paused = WorkerProcess(tmp_path, path, postgres_url, "paused", ["a0"], lease_ttl=20, local=True,
                           env={**board_env, "EDGEQ_BOARD": "a0", "EDGEQ_SLOW_S": "600"})
    (job,) = until(lambda: running_on(store, run_id, ["a0"]), 180, "a job running on a0")
    (pid,) = until(lambda: [int(p.name.split("-")[1]) for p in pids.glob("a0-*")], 120, "a0's benchmark to start")
    paused.signal(signal.SIGSTOP)  # a worker that stalls (a GC pause, a swapped-out host) while its board works
    workers.extend([paused, WorkerProcess(tmp_path, path, postgres_url, "alive", ["b0"], lease_ttl=20, local=True,
                                          env={**board_env, "EDGEQ_BOARD": "b0"})])
    # The paused worker cannot act, yet its board stops the job: the lease it held was not renewed on it.
    until(lambda: not alive(pid), 60, "a0's benchmark to be stopped on the board")
    assert store.job(job.id).state in ("running", "queued")  # it stopped before anyone could take the job
    until(lambda: store.job(job.id).state == "done", 120, "the other worker to finish a0's job on b0")
    paused.signal(signal.SIGCONT)
    until(lambda: "refused" in paused.log.read_text(), 60, "the paused worker's late write")

    assert paused.finish().strip() == "refused 1"
    settled = store.job(job.id)
    assert settled.measurement.device == "b0" and [a.outcome for a in settled.attempts] == ["infra", "done"]
    assert settled.attempts[0].device == "a0" and "lost its worker" in settled.attempts[0].reason
    with store._engine.connect() as connection:  # one measurement per job; the late one never written
        assert connection.execute(select(func.count()).select_from(measurements)
                                  .where(measurements.c.job_id == job.id)).scalar_one() == 1
    assert workers[1].finish().strip() == "refused 0"


def test_submit_and_wait_from_a_third_process_report_what_a_one_host_run_reports(tmp_path, postgres_url, workers):
    names = ["a0", "a1", "b0"]
    path = inventory(tmp_path, names)
    store = open_store(postgres_url, default_path=None)
    healthy(store, names)
    # 30 runs: enough samples that the gate's interval for two identical devices lies within ±5 % (with 10 it
    # sometimes does not, and the gate says inconclusive, as it should)
    matrix = ["--models", *MODELS[:2], "--schemes", "none", "dynamic", "--runs", "30", "--warmup", "1"]
    fakes = {name: FakeDevice(seed=index) for index, name in enumerate(names)}
    one_host = run_lab(Inventory.load(path), LabRequest(models=MODELS[:2], schemes=("none", "dynamic"), runs=30, warmup=1),
                       store=store, transport_factory=lambda entry, profile: FakeTransport(fakes[entry.name]))

    # the lab is up before CI submits: each host's worker serves its devices
    workers.append(WorkerProcess(tmp_path, path, postgres_url, "host-1", ["a0", "a1"]))
    workers.append(WorkerProcess(tmp_path, path, postgres_url, "host-2", ["b0"]))
    until(lambda: len(store.leases()) == 3, 120, "both workers to lease their devices")
    submitted = edgeq("lab", "submit", *matrix, "--inventory", str(path), "--store", postgres_url)
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    waited = edgeq("lab", "wait", run_id, "--timeout", "240", "--reports", str(tmp_path / "reports"),
                   "--inventory", str(path), "--store", postgres_url)

    assert waited.returncode == 0 == _exit_of(one_host), waited.stderr
    cases = _junit_cases(tmp_path / "reports" / "junit.xml")
    one_host_junit = edgeq("lab", "report", one_host.id, "--format", "junit", "-o", str(tmp_path / "one-host.xml"),
                           "--inventory", str(path), "--store", postgres_url)
    assert one_host_junit.returncode == 0
    assert cases == _junit_cases(tmp_path / "one-host.xml")
    assert len(cases) == 12 and all(results == [] for results in cases.values())
    gated = edgeq("lab", "gate", "--baseline", one_host.id, "--run", run_id, "--inventory", str(path), "--store", postgres_url)
    regated = edgeq("lab", "gate", "--baseline", run_id, "--run", one_host.id, "--inventory", str(path), "--store", postgres_url)
    assert gated.returncode == regated.returncode == 0, gated.stdout + gated.stderr
    for worker in workers:
        assert worker.finish().strip() == "refused 0"


def _junit_cases(path: Path) -> dict[str, list[str]]:
    """Each case's name and how it ended (failure, error, skipped; none when it passed)."""
    return {case.name: [type(result).__name__ for result in case.result]
            for suite in JUnitXml.fromfile(str(path)) for case in suite}


def _exit_of(run) -> int:
    states = {job.state for job in run.jobs}
    return 1 if states & {"failed", "timeout"} else 3 if states - {"done"} else 0


def test_a_worker_pointed_at_a_store_that_is_down_exits_3_with_one_line(tmp_path):
    from postgres import free_port

    path = inventory(tmp_path, ["a0"])
    proc = edgeq("lab", "worker", "--inventory", str(path), "--store",
                 f"postgresql://edgeq:secret@127.0.0.1:{free_port()}/lab")
    assert proc.returncode == 3
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: cannot reach the results store") and "secret" not in proc.stderr
    assert len([line for line in lines if line.startswith("error:")]) == 1 and "Traceback" not in proc.stderr


def test_a_worker_that_loses_the_store_mid_run_waits_for_it_and_loses_no_result(tmp_path, workers):
    with PostgresServer() as server:
        url = server.create_database("lab")
        path = inventory(tmp_path, ["a0", "a1"])
        store = open_store(url, default_path=None)
        healthy(store, ["a0", "a1"])
        run_id = submit(Inventory.load(path), LabRequest(models=MODELS, schemes=("none",), runs=3, warmup=0), store)
        worker = WorkerProcess(tmp_path, path, url, "host-1", ["a0", "a1"], work_s=0.3, lease_ttl=20)
        workers.append(worker)
        until(lambda: sum(job.state == "done" for job in store.jobs_for(run_id)) >= 2, 120, "two jobs done")
        server.pause()  # the database restarts: every connection is cut
        time.sleep(4)
        server.resume()
        run = wait_for(store, run_id, timeout_s=120)
        assert {job.state for job in run.jobs} == {"done"} and len(run.jobs) == 10
        assert "store unreachable" in worker.log.read_text()
        assert worker.finish().strip() == "refused 0"
        store.close()


def test_a_host_cut_from_the_network_loses_its_job_to_another_host_and_its_late_result_is_refused(tmp_path, workers):
    with NetworkHost("edgeq-a") as host_a, PostgresServer(also_listen=(host_a.gateway,)) as server:
        url = server.create_database("lab")
        path = inventory(tmp_path, ["a0", "b0"])
        store = open_store(url, default_path=None)
        healthy(store, ["a0", "b0"])
        run_id = submit(Inventory.load(path), LabRequest(models=MODELS[:1], schemes=("none",), runs=3, warmup=0),
                        store)
        cut_off = WorkerProcess(tmp_path, path, server.url("lab", host=host_a.gateway), "host-a", ["a0"], work_s=4.0,
                                lease_ttl=10, prefix=host_a.prefix)
        workers.extend([cut_off, WorkerProcess(tmp_path, path, url, "host-b", ["b0"], work_s=0.5, lease_ttl=10)])
        (job,) = until(lambda: running_on(store, run_id, ["a0"]), 120, "a job running on a0 (host A)")
        host_a.cut()  # host A vanishes: no packets either way, no reset; its worker and device keep going
        until(lambda: store.job(job.id).state == "done", 60, "host B to finish a0's job")
        host_a.heal()
        until(lambda: "refused" in cut_off.log.read_text(), 90, "host A's late write")

        assert cut_off.finish().strip() == "refused 1"
        settled = store.job(job.id)
        assert settled.measurement.device == "b0" and [a.outcome for a in settled.attempts] == ["infra", "done"]
        assert workers[1].finish().strip() == "refused 0"
        store.close()
