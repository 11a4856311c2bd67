"""A job is known by its whole identity — model, device, profile, variant and format — in the gate, the tables
and the reports: a two-format run (``--formats pte ptl``) on two boards, then one where only the ``.pte`` got
slower.

The runs go through the scheduler on ``FakeDevice`` boards (real artifacts, the runner protocol, a real SQLite
store); the commands are the real CLI in a subprocess, reading the same store.
"""

import json
from pathlib import Path

import pytest
from edgeq_cli import edgeq
from junit10 import junit10_problems
from junitparser import JUnitXml

from edgeq.device import Inventory
from edgeq.lab.gate import compare_runs
from edgeq.lab.plan import LabRequest
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import open_store
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice

MODEL = f"{Path(__file__).resolve().parent.parent / 'support' / 'lab_models.py'}:mlp_a"
BOARDS = ("b1", "b2")


class PteSlowerBy(FakeDevice):
    """A board whose ``.pte`` runs take ``factor`` times as long as its ``.ptl`` runs."""

    def __init__(self, factor: float, seed: int) -> None:
        super().__init__(seed=seed)
        self.factor = factor

    def _bench(self, argv):
        code, out, err = super()._bench(argv)
        if argv[argv.index("--format") + 1] != "pte":
            return code, out, err
        report = json.loads(out)
        report["latencies_ms"] = [latency * self.factor for latency in report["latencies_ms"]]
        return code, json.dumps(report) + "\n", err


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two boards of one profile; a run labelled ``base``, then ``pte-slower`` where only the .pte is 50 % slower."""
    folder = tmp_path_factory.mktemp("lab-identity")
    inventory_path = folder / "edgeq-lab.toml"
    inventory_path.write_text("".join(f'[devices.{board}]\nprofile = "host"\nhost = "{board}"\n' for board in BOARDS))
    inventory = Inventory.load(inventory_path)
    store = open_store(None, default_path=folder / "edgeq-lab.db")
    runs = {}
    for label, factor, seed in (("base", 1.0, 1), ("pte-slower", 1.5, 2)):
        boards = {board: PteSlowerBy(factor, seed + index) for index, board in enumerate(BOARDS)}
        request = LabRequest(models=(MODEL,), schemes=("none",), formats=("pte", "ptl"), runs=20, warmup=1, label=label)
        runs[label] = run_lab(inventory, request, store=store,
                              transport_factory=lambda entry, profile, boards=boards: FakeTransport(boards[entry.name]))
    return inventory_path, runs


def lab_cli(lab, *args: str):
    inventory_path, _ = lab
    return edgeq("lab", *args, "--inventory", str(inventory_path))


def labels(fmt: str) -> set[str]:
    return {f"{MODEL}/{board}/fp32.{fmt}" for board in BOARDS}


def test_the_gate_finds_the_slower_pte_jobs_and_not_their_ptl_siblings(lab):
    _, runs = lab
    result = compare_runs(runs["base"], runs["pte-slower"])
    verdicts = {row.key.label: row.latency.verdict for row in result.rows}
    assert set(verdicts) == labels("pte") | labels("ptl")  # four jobs, none hiding another
    assert {verdicts[label] for label in labels("pte")} == {"slower"}
    assert "slower" not in {verdicts[label] for label in labels("ptl")}
    assert result.status == "regression" and result.problem().exit_code == 1


def test_lab_gate_exits_1_naming_the_pte_rows_as_slower_and_not_the_ptl_rows(lab):
    proc = lab_cli(lab, "gate", "--baseline", "base", "--run", "pte-slower", "--json")
    assert proc.returncode == 1, proc.stderr
    rows = {row["job"]: row for row in json.loads(proc.stdout)["rows"]}
    assert {rows[label]["verdict"] for label in labels("pte")} == {"slower"}
    assert {rows[label]["status"] for label in labels("pte")} == {"regression"}
    assert "slower" not in {rows[label]["verdict"] for label in labels("ptl")}
    assert all(label in proc.stderr for label in labels("pte")) and ".ptl" not in proc.stderr


def test_the_junit_report_of_a_two_format_run_has_unique_case_names_and_follows_junit_10(lab, tmp_path):
    out = tmp_path / "lab.xml"
    proc = lab_cli(lab, "report", "pte-slower", "--format", "junit", "-o", str(out), "--baseline", "base")
    assert proc.returncode == 0, proc.stderr
    document = out.read_text()
    assert junit10_problems(document) == []
    names = [case.name for suite in JUnitXml.fromstring(document) for case in suite]
    assert sorted(names) == sorted(labels("pte") | labels("ptl"))
    regressed = {case.name for suite in JUnitXml.fromstring(document) for case in suite if case.result}
    assert regressed == labels("pte")


def test_the_run_table_shows_each_format_as_a_row_of_its_own(lab):
    _, runs = lab
    proc = lab_cli(lab, "wait", runs["pte-slower"].id)
    assert proc.returncode == 0, proc.stderr
    shown = [line for line in proc.stdout.splitlines() if "fp32." in line]
    assert len(shown) == 4 and sum(".pte" in line for line in shown) == 2 and sum(".ptl" in line for line in shown) == 2
