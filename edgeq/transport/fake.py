"""A public in-memory transport for tests and users: files live in a dict, commands go to a handler."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edgeq.errors import TransferError
from edgeq.transport.base import CommandResult, Transport

Handler = Callable[[tuple[str, ...]], tuple[int, str, str]]


class FakeTransport(Transport):
    """Records every call; ``handler(argv) -> (returncode, stdout, stderr)`` answers commands."""

    name = "fake"

    def __init__(self, handler: Handler | None = None, home: str = "/home/edgeq") -> None:
        self.files: dict[str, bytes] = {}
        self.calls: list[tuple[str, ...]] = []
        self.home = home
        self.closed = False
        self._handler = handler or (lambda argv: (0, "", ""))

    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        self.calls.append(("run", *argv))
        start = time.monotonic()
        code, out, err = self._handler(argv)
        result = CommandResult(argv, code, out, err, time.monotonic() - start)
        return result.check() if check else result

    def push(self, local: Path, remote: str) -> None:
        self.calls.append(("push", str(local), remote))
        self.files[self.expand(remote)] = Path(local).read_bytes()

    def pull(self, remote: str, local: Path) -> None:
        self.calls.append(("pull", remote, str(local)))
        key = self.expand(remote)
        if key not in self.files:
            raise TransferError(f"{remote} does not exist on the fake device")
        Path(local).write_bytes(self.files[key])

    def sha256(self, remote: str) -> str | None:
        data = self.files.get(self.expand(remote))
        return hashlib.sha256(data).hexdigest() if data is not None else None

    def expand(self, path: str) -> str:
        return self.home + path[1:] if path.startswith("~") else path

    def close(self) -> None:
        self.closed = True
