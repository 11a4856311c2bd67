"""The transport contract: run a command, push and pull files, close. Every transport offers these verbs."""

from __future__ import annotations

import abc
import contextlib
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import CommandFailed, TransferError
from edgeq.digest import file_sha256


@dataclass(frozen=True)
class CommandResult:
    """What a command did on the device; raising on failure is the caller's choice (``check``)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> CommandResult:
        if not self.ok:
            tail = (self.stderr.strip().splitlines() or [""])[-1][:300]
            raise CommandFailed(f"{self.argv[0]} exited {self.returncode} on the device: {tail}", result=self)
        return self


class Transport(abc.ABC):
    """Moves files to a device and runs commands there. Arguments are lists, never joined by the caller."""

    name: str = "abstract"

    @abc.abstractmethod
    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        """Run ``argv`` on the device and wait for it."""

    @abc.abstractmethod
    def push(self, local: Path, remote: str) -> None:
        """Copy ``local`` to ``remote`` via a temporary name, verify its SHA-256 on the device, then rename."""

    @abc.abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy ``remote`` to ``local`` via a temporary name, verified, then renamed."""

    @abc.abstractmethod
    def sha256(self, remote: str) -> str | None:
        """The SHA-256 of a file on the device, or None when it does not exist."""

    @abc.abstractmethod
    def expand(self, path: str) -> str:
        """Resolve ``~`` in a device path."""

    def close(self) -> None:
        """Release connections; safe to call twice."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def verified_download(local: Path, expected: str, source: str) -> Iterator[Path]:
    """A temporary file beside ``local`` to copy ``source`` into, for every transport's ``pull``.

    When the copy is done it must hash to ``expected`` and is renamed to ``local``;
    on any failure it is removed, so nothing ever appears at ``local`` half-written.
    """
    local.parent.mkdir(parents=True, exist_ok=True)
    temporary = local.with_name(f".{local.name[:200]}.edgeq-partial-{secrets.token_hex(4)}")
    try:
        yield temporary
        arrived = file_sha256(temporary)
        if arrived != expected:
            raise TransferError(f"{source} arrived corrupted at {local} (sha256 {arrived[:16]}… here, "
                                f"{expected[:16]}… at the source)", hint="retry; if it repeats, check the link and the storage")
        os.replace(temporary, local)
    finally:
        temporary.unlink(missing_ok=True)
