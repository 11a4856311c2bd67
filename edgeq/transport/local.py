"""The local transport: the "device" is the machine edgeq runs on."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from edgeq.errors import CommandTimeout, TransferError, TransportError
from edgeq.digest import file_sha256
from edgeq.transport.base import CommandResult, Transport, verified_download


class LocalTransport(Transport):
    name = "local"

    @classmethod
    def connect(cls, address: object = None) -> LocalTransport:
        return cls()

    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"{argv[0]} did not finish within {timeout_s:g} s") from exc
        except OSError as exc:
            raise TransportError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
        return result.check() if check else result

    def push(self, local: Path, remote: str) -> None:
        _copy_verified(Path(local), Path(self.expand(remote)))

    def pull(self, remote: str, local: Path) -> None:
        _copy_verified(Path(self.expand(remote)), Path(local))

    def sha256(self, remote: str) -> str | None:
        path = Path(self.expand(remote))
        return file_sha256(path) if path.is_file() else None

    def expand(self, path: str) -> str:
        return os.path.expanduser(path)


def _copy_verified(source: Path, target: Path) -> None:
    if not source.is_file():
        raise TransferError(f"{source} does not exist")
    try:
        with verified_download(target, file_sha256(source), str(source)) as temporary:
            shutil.copyfile(source, temporary)
    except OSError as exc:
        raise TransferError(f"copying {source} to {target} failed: {exc.strerror or exc}") from exc
