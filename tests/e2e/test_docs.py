"""Every shell command in README.md and docs/*.md runs as documented, or says why it cannot run here.

The commands are the lines of the fenced ``sh`` blocks (a trailing ``\\`` continues a line; ``# …`` ends it). Files
the docs define in a fenced block whose first line is ``# NAME.py`` or ``# NAME.toml`` are written first, into one
folder where the commands run, as a reader following the docs would have them. ``edgeq`` and ``.venv/bin/edgeq``
are this checkout's CLI. A command that needs a device, a server or minutes of benchmarking matches one of
``ELSEWHERE`` and is skipped with its reason; any other command that is not edgeq's fails the test until it is
made runnable or listed there.
"""

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.M | re.S)
FILE_HEADER = re.compile(r"^# (?P<name>[\w.-]+\.(py|toml))\n")

# (what the command starts with or contains, why it cannot run in the test suite)
ELSEWHERE = [
    (r"^make (demo|test)\b", "sets up .venv first; its edgeq commands are the ones below, run here"),
    (r"^make bench\b", "the benchmark suite: about 25 minutes on 2 cores (docs/benchmarks.md)"),
    (r"--device\b", "needs a device (ssh:// or adb://, or a name from a lab inventory)"),
    (r"^(RUN=\$\()?edgeq lab\b", "needs a lab inventory and its devices, or the lab's PostgreSQL store"),
    (r"^edgeq (package|verify)\b", "needs a release config whose targets a lab measured, and the bundle it writes "
                                   "(docs/release.md; tests/integration/test_release.py builds one)"),
    (r"^(tar|\(cd|pip install|model_signing)\b", "checks a release bundle by hand, after edgeq package"),
    (r"^(git clone|cd executorch|git submodule|\./install_requirements\.sh|export ANDROID_NDK|cmake|adb)\b",
     "builds ExecuTorch's executor_runner for a phone: needs the Android NDK and the phone"),
    (r"^(dpkg|apt-get)\b", "installs Debian packages as root (.ci/run does, for the emulated ARM board)"),
    (r"^PATH=~/\.cache/edgeq-arm-board/", "needs the emulated ARM board built (tests/integration/test_arm_board.py)"),
]
# commands the docs say exit with a code other than 0
EXIT_CODES = {"edgeq doctor --profile native-runner.toml": 1}


@dataclass(frozen=True)
class Command:
    text: str  # as the docs write it, comments removed, continuation lines joined
    where: str  # doc:line of its first appearance

    @property
    def edgeq(self) -> list[str] | None:
        """The argv after ``edgeq`` when this is an edgeq command, else None."""
        words = shlex.split(self.text)
        return words[1:] if words and words[0] in ("edgeq", ".venv/bin/edgeq") else None

    @property
    def normal(self) -> str:
        return re.sub(r"^\.venv/bin/edgeq\b", "edgeq", self.text)


def _lines(body: str) -> list[tuple[int, str]]:
    """``(offset, line)`` of each command in a block: comments dropped, ``\\`` continuations joined."""
    found, pending, start = [], "", 0
    for offset, raw in enumerate(body.splitlines()):
        line = re.sub(r"(^|\s)#\s.*$", "", raw).rstrip()
        if not pending:
            start = offset
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = (pending + line.strip()).strip()
        pending = ""
        if text:
            found.append((start, text))
    return found


def documented_commands() -> list[Command]:
    seen: dict[str, Command] = {}
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            if block["lang"] != "sh":
                continue
            first = text[:block.start("body")].count("\n") + 1
            for offset, line in _lines(block["body"]):
                command = Command(line, f"{doc.relative_to(ROOT)}:{first + offset}")
                seen.setdefault(command.normal, command)
    return list(seen.values())


def documented_files() -> dict[str, str]:
    """The files the docs define (``# my_model.py`` as a block's first line), by name."""
    files = {}
    for doc in DOCS:
        for block in FENCE.finditer(doc.read_text(encoding="utf-8")):
            header = FILE_HEADER.match(block["body"])
            if header and block["lang"] in ("python", "toml"):
                files[header["name"]] = block["body"]
    return files


def why_not_here(command: Command) -> str | None:
    return next((reason for pattern, reason in ELSEWHERE if re.search(pattern, command.normal)), None)


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Path:
    """A folder with the files the docs ask the reader to write."""
    folder = tmp_path_factory.mktemp("reader")
    for name, body in documented_files().items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


COMMANDS = documented_commands()


def test_the_docs_define_the_files_their_commands_use():
    assert {"my_model.py", "native-runner.toml"} <= set(documented_files())
    assert len(COMMANDS) > 20


def _on_one_worker(command: Command) -> list[pytest.MarkDecorator]:
    """A language model's run goes to the worker of tests/e2e/test_language_models.py (make test: --dist loadgroup),
    so the programs both export are exported once, not twice at the same time."""
    return [pytest.mark.xdist_group("language-models")] if "zoo:tiny-llama" in command.normal else []


@pytest.mark.parametrize("command", [pytest.param(c, id=f"{c.where} {c.normal}"[:120], marks=_on_one_worker(c))
                                     for c in COMMANDS])
def test_a_documented_command_runs_as_the_docs_say(command, reader):
    reason = why_not_here(command)
    if reason is not None:
        pytest.skip(reason)
    argv = command.edgeq
    assert argv is not None, (f"{command.where}: `{command.text}` is neither edgeq's nor in ELSEWHERE: make it runnable "
                              "here or list it with the reason it cannot be")
    proc = subprocess.run([sys.executable, "-m", "edgeq", *argv], cwd=reader, capture_output=True, text=True, timeout=900)
    expected = EXIT_CODES.get(command.normal, 0)
    assert proc.returncode == expected, f"{command.where}: exit {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    assert proc.stdout.strip() and "Traceback" not in proc.stderr
