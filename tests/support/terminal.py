"""Run a command on a real pseudo-terminal of a chosen size, as a person's terminal would, and read its screen."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

# CSI (colours, cursor moves, erase), OSC (titles, links) and the two-byte escapes rich's Live display writes
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")


@dataclass(frozen=True)
class Terminal:
    """What a command wrote to its terminal: the raw bytes as text, and the lines a person sees."""

    returncode: int
    raw: str

    @property
    def lines(self) -> list[str]:
        """Each line as it stands once the command is done: escapes removed, a carriage return's overwrite applied."""
        plain = _ESCAPES.sub("", self.raw)
        return [line.split("\r")[-1] for line in plain.replace("\r\n", "\n").split("\n")]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def frames(self) -> list[str]:
        """Every line the terminal showed at some moment, those a carriage return overwrote later included (a
        spinner's successive messages)."""
        return re.split(r"[\r\n]+", _ESCAPES.sub("", self.raw))


def run_in_terminal(argv: list[str], columns: int, rows: int = 60, timeout_s: float = 900.0,
                    cwd: str | None = None) -> Terminal:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal ``columns`` wide; wait for it to end."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd,
                            start_new_session=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"{argv} did not finish within {timeout_s:g} s")
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed, the command is done
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    return Terminal(proc.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace"))
