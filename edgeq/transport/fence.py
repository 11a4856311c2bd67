"""Fencing that reaches the board: a lab job's commands stop on the device when its lease stops being renewed.

(A transport wrapper: the lab's worker puts each device's transport in one.)

The store refuses a result written under a lease that has passed on, but the benchmark behind it would go
on running on a board whose lease a new holder already measures on, and skew that holder's numbers. So
every command a lab job runs on a device goes through a small watchdog on the device (POSIX ``sh``:
busybox, toybox and dash have what it needs). The worker writes ``TOKEN SEQ`` to a file on the device when
it takes the device's lease and again after every renewal; the watchdog stops the command (TERM, then KILL)
as soon as the file names another token (the lease passed on), or once its sequence number has not moved
for ``stale_after_s`` — chosen so that the command is gone before the lease can expire and be granted again,
even when the worker itself is frozen (SIGSTOP), dead, or cut off from the store.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from edgeq.transport.base import CommandResult, Transport

KILL_GRACE_S = 2  # between the watchdog's TERM and KILL
_POLL_S = 1  # how often the watchdog reads the lease file
_LATENCY_MARGIN_S = 2.0  # a renewal reaches the device this much after the store granted it, at worst
STOPPED = "edgeq-fence: stopped"  # what the watchdog prints on stderr when it stops a command
LEASE_COMMAND = "edgeq-lease"  # $0 of the command that writes the lease file

# $1 lease file, $2 seconds without a renewal before the command is stopped, $3 the lease token it runs
# under; then the command. The command runs in the background; a second background loop watches the file;
# the wrapper waits for the command, so a quick command returns as quickly as without the watchdog.
_WATCHDOG = (
    'f=$1; stale=$2; mine=$3; shift 3; "$@" & pid=$!; '
    '( last=; quiet=0; why=; '
    f'while sleep {_POLL_S} </dev/null >/dev/null 2>&1; kill -0 "$pid" 2>/dev/null; do '
    'token=; seq=; if [ -r "$f" ]; then read -r token seq < "$f"; fi; '
    'if [ "$token" != "$mine" ]; then why="the device lease passed from token $mine to ${token:-nobody}"; '
    'elif [ "$seq" = "$last" ]; then quiet=$((quiet+1)); else last=$seq; quiet=0; fi; '
    'if [ -z "$why" ] && [ "$quiet" -ge "$stale" ]; then why="the device lease was not renewed for $stale s"; fi; '
    'if [ -n "$why" ]; then '
    f'echo "{STOPPED}: $why" >&2; kill -TERM "$pid" 2>/dev/null; '
    f'i=0; while [ $i -lt {KILL_GRACE_S} ] && kill -0 "$pid" 2>/dev/null; do sleep 1 </dev/null >/dev/null 2>&1; i=$((i+1)); done; '
    'kill -KILL "$pid" 2>/dev/null; exit 0; fi; '
    'done ) & dog=$!; '
    'wait "$pid"; status=$?; kill "$dog" 2>/dev/null; exit $status'
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def stale_after_s(lease_ttl_s: float) -> int:
    """How long the watchdog lets a lease go unrenewed: short enough that, with its poll and kill grace and a
    renewal's way to the device, the command is gone before the lease itself expires."""
    return max(1, math.floor(lease_ttl_s - KILL_GRACE_S - _POLL_S - _LATENCY_MARGIN_S))


def lease_file(workdir: str, device: str) -> str:
    """The device's lease file in its work dir; named for the device, since two devices may share a home."""
    return f"{workdir.rstrip('/')}/.edgeq-lease-{_UNSAFE.sub('_', device)}"


class FencedTransport(Transport):
    """A device's transport whose commands run under the watchdog of the lease ``renewed`` last announced.

    Pushes, pulls and hashes are not fenced: they write under temporary names and only a command makes them
    count. Until the first ``renewed``, commands run unfenced (the probe before a lease exists).
    """

    def __init__(self, inner: Transport, device: str, workdir: str, lease_ttl_s: float) -> None:
        self.inner, self.device = inner, device
        self.name = inner.name
        self.path = lease_file(inner.expand(workdir), device)
        self.stale_s = stale_after_s(lease_ttl_s)
        self._lock = threading.Lock()
        self._token: int | None = None
        self._seq = 0

    def renewed(self, token: int) -> None:
        """The device's lease is held under ``token`` as of now: tell the device (the watchdog's evidence)."""
        with self._lock:
            self._seq += 1
            self._token, seq = token, self._seq
        folder = self.path.rsplit("/", 1)[0]
        self.inner.run(["sh", "-c", 'mkdir -p "$1" && printf "%s %s\\n" "$2" "$3" > "$4.tmp" && mv "$4.tmp" "$4"',
                        LEASE_COMMAND, folder, str(token), str(seq), self.path], timeout_s=30.0)

    def released(self) -> None:
        """The lease was given back: commands from now on run unfenced, and the device's watchdogs stop theirs."""
        with self._lock:
            self._token = None
        self.inner.run(["rm", "-f", self.path], timeout_s=30.0, check=False)

    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        with self._lock:
            token = self._token
        if token is None:
            return self.inner.run(argv, timeout_s=timeout_s, check=check)
        wrapped = ["sh", "-c", _WATCHDOG, "edgeq-fence", self.path, str(self.stale_s), str(token), *argv]
        result = dataclasses.replace(self.inner.run(wrapped, timeout_s=timeout_s, check=False), argv=tuple(argv))
        return result.check() if check else result

    def push(self, local: Path, remote: str) -> None:
        self.inner.push(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        self.inner.pull(remote, local)

    def sha256(self, remote: str) -> str | None:
        return self.inner.sha256(remote)

    def expand(self, path: str) -> str:
        return self.inner.expand(path)

    def close(self) -> None:
        self.inner.close()


def unwrap(argv: Sequence[str]) -> tuple[str, ...]:
    """The command inside a fenced ``argv`` (for pretend devices that answer commands by their name)."""
    if len(argv) > 6 and argv[0] == "sh" and argv[1] == "-c" and argv[3] == "edgeq-fence":
        return tuple(argv[7:])
    return tuple(argv)
