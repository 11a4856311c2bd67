"""The SSH transport (paramiko): a device reached as ``ssh://user@host[:port]``.

Safety first, because the device is somebody's machine and the numbers must be honest:

* Host keys are checked against ``known_hosts``. An unknown key is refused unless the user opted in with
  ``--trust-new-host`` (then it is recorded); a changed key is always refused.
* Every argument is quoted with ``shlex.quote``; stdout and stderr are read together, so any amount of
  output works; a command that outlives its timeout has its whole process group killed on the device.
* A push goes to a temporary name beside the target, is verified by SHA-256 on the device, then renamed
  atomically: the final path holds a complete, verified file or nothing.
* Files move over SFTP when the server offers it. Many boards' Dropbear and hardened OpenSSH servers do
  not: then they are streamed through ``cat`` on an exec channel, with the same temporary name, SHA-256
  check, rename and cleanup. Which one a connection uses is probed once per connection (``transfer_method``).

paramiko's exceptions become edgeq's ``TransportError`` children here and nowhere else.
"""

from __future__ import annotations

import getpass
import logging
import os
import posixpath
import re
import secrets
import select
import shlex
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import paramiko

from edgeq.errors import (
    AuthError, CommandTimeout, ConfigError, ConnectError, EdgeqError, InternalError, TransferError, TransportError,
    summarize,
)
from edgeq.digest import file_sha256
from edgeq.transport.address import DeviceAddress
from edgeq.transport.base import CommandResult, Transport, verified_download

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0  # TCP connect, banner, key exchange and authentication, each
KEEPALIVE_S = 15.0  # keeps NAT and firewall state alive through long, silent benchmarks
IDLE_TIMEOUT_S = 120.0  # a transfer that moves no data for this long is declared dead
HOUSEKEEPING_TIMEOUT_S = 60.0  # mkdir, kill, $HOME: quick commands that only hang when the device does
HASH_TIMEOUT_S = 600.0  # SHA-256 of a large artifact on a slow board
KILL_GRACE_S = 2.0  # between SIGTERM and SIGKILL for a timed-out command's process group

_CHUNK = 1 << 16
_METHODS = ("auto", "sftp", "exec")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PAYLOAD_ERRORS = (paramiko.SSHException, paramiko.SFTPError, OSError, EOFError)

# Runs argv in a new session (so in its own process group) and reports that group's id on stderr as
# "TOKEN PGID" before exec'ing, so a timed-out command can be killed whole. The command runs as a
# background job the wrapper waits for: then setsid never has to fork, and the exit status comes back.
# Without setsid (rare), OpenSSH's own per-session setsid makes the wrapper's group the one to kill.
_RUN_WRAPPER = (
    't=$1; shift; '
    'if command -v setsid >/dev/null 2>&1; then '
    """setsid sh -c 'printf "%s %s\\n" "$0" "$$" >&2; exec "$@"' "$t" "$@" & wait $!; """
    'else printf "%s %s\\n" "$t" "$$" >&2; exec "$@"; fi'
)

# Kills process group $1: SIGTERM, a grace period, then SIGKILL for whatever is left.
_KILL_GROUP = (
    'kill -TERM -"$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || exit 0; '
    f'i=0; while [ $i -lt {int(KILL_GRACE_S / 0.2)} ] && kill -0 -"$1" 2>/dev/null; do sleep 0.2; i=$((i+1)); done; '
    'kill -KILL -"$1" 2>/dev/null; exit 0'
)

# SHA-256 of file $1 with whatever the device has; exit 3 when there is no such file, 4 when no tool.
_SHA256_SCRIPT = (
    '[ -f "$1" ] || exit 3; '
    'if command -v sha256sum >/dev/null 2>&1; then exec sha256sum < "$1"; fi; '
    'if command -v shasum >/dev/null 2>&1; then exec shasum -a 256 < "$1"; fi; '
    'if command -v python3 >/dev/null 2>&1; then exec python3 -c "import hashlib,sys; h=hashlib.sha256(); '
    "[h.update(b) for b in iter(lambda: sys.stdin.buffer.read(1 << 20), b'')]; print(h.hexdigest())\" < \"$1\"; fi; "
    'if command -v openssl >/dev/null 2>&1; then exec openssl dgst -sha256 -r < "$1"; fi; '
    'exit 4'
)


class SSHTransport(Transport):
    """A device over SSH. Connects in ``connect``; reconnects by itself when the connection was lost."""

    name = "ssh"

    def __init__(self, address: DeviceAddress, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 keepalive_s: float = KEEPALIVE_S, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 transfer: str = "auto") -> None:
        """``transfer``: ``"sftp"``, ``"exec"`` (``cat`` over an exec channel), or ``"auto"``: SFTP when offered."""
        if address.kind != "ssh" or not address.host:
            raise ConfigError(f"device {address} is not an ssh:// address", hint="write it as ssh://user@host[:port]")
        if transfer not in _METHODS:
            raise ConfigError(f"unknown SSH transfer method {transfer!r}", hint=f"use one of {', '.join(_METHODS)}")
        self.address = address
        self.user = address.user or getpass.getuser()
        self.port = address.port or 22
        self.known_hosts = (address.known_hosts or Path("~/.ssh/known_hosts")).expanduser()
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.idle_timeout_s = idle_timeout_s
        self.transfer = transfer
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._method: str | None = None  # "sftp" or "exec" once this connection was probed
        self._home: str | None = None
        self._closed = False
        self._stale: set[str] = set()  # temporaries an interrupted push could not remove; removed on reconnect

    @classmethod
    def connect(cls, address: DeviceAddress, **settings: float | str) -> SSHTransport:
        """Connect now, so an unreachable device, a refused key or a bad login surface before any work."""
        transport = cls(address, **settings)
        transport._session()
        return transport

    def __repr__(self) -> str:
        return f"SSHTransport({self.label})"

    @property
    def label(self) -> str:
        """``ssh://user@host:port``, for messages: always with the user and port actually used."""
        return f"ssh://{self.user}@{self.address.host}:{self.port}"

    # -- commands ---------------------------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        if not argv:
            raise InternalError("run() needs a command")
        token = f"edgeq-pgid-{secrets.token_hex(8)}"
        command = shlex.join(["sh", "-c", _RUN_WRAPPER, "edgeq", token, *argv])
        start = time.monotonic()
        deadline = None if timeout_s is None else start + timeout_s
        channel = self._open_channel(command, what=argv[0])
        out, err = bytearray(), bytearray()
        try:
            finished = self._drain(channel, out, err, deadline)
            if not finished:
                self._kill_group(_marker_pgid(err, token))
                self._drain(channel, out, err, time.monotonic() + HOUSEKEEPING_TIMEOUT_S)
                raise CommandTimeout(f"{argv[0]} did not finish within {timeout_s:g} s on {self.label}; "
                                     "its process group was killed",
                                     hint="raise the timeout for slow devices, or check that the command cannot hang")
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic()) if deadline else None):
                raise CommandTimeout(f"{argv[0]} closed its output but did not exit within {timeout_s:g} s "
                                     f"on {self.label}")
            returncode = channel.recv_exit_status()
            if returncode == -1 and not self._alive():
                raise ConnectError(f"lost the connection to {self.label} while {argv[0]} was running")
        finally:
            channel.close()
        result = CommandResult(argv, returncode, out.decode("utf-8", "replace"),
                               _strip_marker(err, token).decode("utf-8", "replace"), time.monotonic() - start)
        return result.check() if check else result

    def _open_channel(self, command: str, *, what: str) -> paramiko.Channel:
        session = self._session()
        try:
            channel = session.open_session(timeout=self.connect_timeout_s)
            channel.exec_command(command)
        except _PAYLOAD_ERRORS as exc:
            raise ConnectError(f"cannot start {what} on {self.label}: {summarize(exc)}") from exc
        return channel

    def _drain(self, channel: paramiko.Channel, out: bytearray, err: bytearray, deadline: float | None) -> bool:
        """Read stdout and stderr together until the command closes them (True) or the deadline passes (False).

        Reading one stream while the other fills would stall the command once the SSH window is full.
        """
        while True:
            ended = channel.eof_received or channel.closed  # read before draining: data precedes the EOF
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
            if ended:
                return True
            wait_s = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait_s <= 0:
                return False
            select.select([channel], [], [], wait_s)

    def _kill_group(self, pgid: int | None) -> None:
        """Kill a timed-out command's process group (TERM, then KILL) over a fresh channel."""
        if pgid is None:
            log.warning("%s: the timed-out command never reported its process group; closing its channel only",
                        self.label)
            return
        channel = self._open_channel(shlex.join(["sh", "-c", _KILL_GROUP, "edgeq-kill", str(pgid)]), what="kill")
        try:
            self._drain(channel, bytearray(), bytearray(), time.monotonic() + HOUSEKEEPING_TIMEOUT_S)
            channel.status_event.wait(HOUSEKEEPING_TIMEOUT_S)
        finally:
            channel.close()

    # -- files ------------------------------------------------------------------------------------------

    def push(self, local: Path, remote: str) -> None:
        local = Path(local)
        if not local.is_file():
            raise TransferError(f"{local} does not exist or is not a file")
        target = self.expand(remote)
        parent, name = posixpath.split(target)
        parent = parent or "."
        expected = file_sha256(local)
        made = self.run(["mkdir", "-p", "--", parent], timeout_s=HOUSEKEEPING_TIMEOUT_S, check=False)
        if not made.ok:
            raise TransferError(f"cannot create {parent} on {self.label}: {made.stderr.strip()[-300:]}")
        temporary = posixpath.join(parent, f".{name[:200]}.edgeq-tmp-{secrets.token_hex(4)}")
        try:
            sftp = self._sftp_or_exec()
            with local.open("rb") as handle:
                if sftp is not None:
                    sftp.putfo(handle, temporary, confirm=False)
                else:
                    self._exec_upload(handle, temporary)
            arrived = self.sha256(temporary)
            if arrived != expected:
                raise TransferError(f"{local.name} arrived corrupted at {self.label}:{target} "
                                    f"(sha256 {arrived or 'missing'} on the device, {expected} here); nothing was kept",
                                    hint="retry; if it persists, check the device's disk and memory")
            if sftp is not None:
                sftp.posix_rename(temporary, target)
            else:
                moved = self.run(["mv", "-f", "--", temporary, target], timeout_s=HOUSEKEEPING_TIMEOUT_S, check=False)
                if not moved.ok:
                    raise TransferError(f"cannot rename the pushed {local.name} to {target} on {self.label}: "
                                        f"{moved.stderr.strip()[-300:]}; nothing was kept")
        except EdgeqError:
            self._discard(temporary)
            raise
        except _PAYLOAD_ERRORS as exc:
            self._discard(temporary)
            raise TransferError(f"push of {local.name} to {self.label}:{target} failed: {self._why(exc)}",
                                hint="nothing was written at the target; retry once the device is reachable") from exc
        log.debug("pushed %s to %s:%s over %s (sha256 %s)", local, self.label, target, self._method, expected)

    def pull(self, remote: str, local: Path) -> None:
        source = self.expand(remote)
        local = Path(local)
        expected = self.sha256(source)
        if expected is None:
            raise TransferError(f"{self.label}:{source} does not exist")
        try:
            sftp = self._sftp_or_exec()
            with verified_download(local, expected, f"{self.label}:{source}") as temporary, temporary.open("wb") as handle:
                if sftp is not None:
                    sftp.getfo(source, handle)
                else:
                    self._exec_download(source, handle)
        except _PAYLOAD_ERRORS as exc:
            raise TransferError(f"pull of {self.label}:{source} to {local} failed: {self._why(exc)}") from exc
        log.debug("pulled %s:%s to %s over %s", self.label, source, local, self._method)

    def _why(self, exc: BaseException) -> str:
        """Why a transfer failed, in words: a socket timeout says nothing by itself."""
        if isinstance(exc, TimeoutError):  # socket.timeout, raised by a channel's settimeout
            return f"no data moved for {self.idle_timeout_s:g} s"
        return summarize(exc)

    @property
    def transfer_method(self) -> str:
        """How files move on this connection: ``"sftp"``, or ``"exec"`` (``cat`` over an exec channel).

        Connects and probes for SFTP when that was not done yet on this connection.
        """
        self._sftp_or_exec()
        if self._method is None:
            raise InternalError("the transfer method was not decided")
        return self._method

    def _exec_upload(self, handle: BinaryIO, temporary: str) -> None:
        """Write ``handle``'s bytes to ``temporary`` with ``cat`` on the device: the upload without SFTP."""
        command = shlex.join(["sh", "-c", 'cat > "$1"', "edgeq-push", temporary])
        channel = self._open_channel(command, what="cat")
        try:
            channel.settimeout(self.idle_timeout_s)
            try:
                self._send_file(handle, channel)
                channel.shutdown_write()
            except _PAYLOAD_ERRORS:
                if channel.exit_status_ready() and channel.recv_exit_status() > 0:
                    self._check_cat(channel, f"writing {temporary}", hint="is the device's disk full?")  # says why
                self._settle(channel)
                raise
            self._check_cat(channel, f"writing {temporary}", hint="is the device's disk full?")
        finally:
            channel.close()

    def _send_file(self, handle: BinaryIO, channel: paramiko.Channel) -> None:
        """Send the file's bytes as the command's stdin; a window that stays shut for the idle timeout raises."""
        while chunk := handle.read(_CHUNK):
            channel.sendall(chunk)

    def _exec_download(self, source: str, handle: BinaryIO) -> None:
        """Copy ``source`` into ``handle`` with ``cat`` on the device: the download without SFTP."""
        channel = self._open_channel(shlex.join(["cat", "--", source]), what="cat")
        try:
            channel.settimeout(self.idle_timeout_s)
            while chunk := channel.recv(_CHUNK):  # b"" is the end of the file; silence past the timeout raises
                handle.write(chunk)
            self._check_cat(channel, f"reading {source}")
        finally:
            channel.close()

    def _check_cat(self, channel: paramiko.Channel, what: str, *, hint: str | None = None) -> None:
        """Wait (within the idle timeout) for a transfer's ``cat`` to exit; anything but 0 is a TransferError."""
        err = bytearray()
        if not self._drain(channel, bytearray(), err, time.monotonic() + self.idle_timeout_s) \
                or not channel.status_event.wait(self.idle_timeout_s):
            raise TransferError(f"{what} on {self.label} stalled: cat did not finish within {self.idle_timeout_s:g} s")
        status = channel.recv_exit_status()
        if status == -1 and not self._alive():
            raise ConnectError(f"lost the connection to {self.label} while {what}")
        if status != 0:
            tail = err.decode("utf-8", "replace").strip()[-300:]
            raise TransferError(f"{what} on {self.label} failed (exit {status}): {tail or 'no message'}",
                                hint=f"{hint + ' ' if hint else ''}nothing was kept at the target")

    def _settle(self, channel: paramiko.Channel) -> None:
        """After a failed upload: end the command's stdin and give it a moment to exit, so that the temporary
        it may still be creating exists before ``_discard`` removes it."""
        try:
            if self._alive():
                channel.shutdown_write()
                channel.status_event.wait(KILL_GRACE_S)
        except _PAYLOAD_ERRORS as exc:
            log.debug("ending an interrupted upload on %s: %s", self.label, summarize(exc))

    def sha256(self, remote: str) -> str | None:
        path = self.expand(remote)
        result = self.run(["sh", "-c", _SHA256_SCRIPT, "edgeq-sha256", path], timeout_s=HASH_TIMEOUT_S, check=False)
        if result.returncode == 3:
            return None
        if result.returncode == 4:
            raise TransportError(f"{self.label} has no way to compute SHA-256",
                                 hint="install coreutils (sha256sum), python3 or openssl on the device")
        digest = (result.stdout.split() or [""])[0].lower()
        if not result.ok or not _SHA256_RE.match(digest):
            raise TransportError(f"cannot compute the SHA-256 of {path} on {self.label}: "
                                 f"{(result.stderr or result.stdout).strip()[-300:]}")
        return digest

    def expand(self, path: str) -> str:
        """``~`` and ``~/…`` become the login's home on the device; other paths are returned as they are."""
        if path != "~" and not path.startswith("~/"):
            return path
        if self._home is None:
            home = self.run(["sh", "-c", 'printf "%s" "$HOME"'], timeout_s=HOUSEKEEPING_TIMEOUT_S).stdout
            if not home.startswith("/"):
                raise TransportError(f"{self.label} reports no usable home directory ({home!r})")
            self._home = home
        return self._home if path == "~" else posixpath.join(self._home, path[2:])

    def close(self) -> None:
        self._closed = True
        self._drop()

    # -- the connection ---------------------------------------------------------------------------------

    def _alive(self) -> bool:
        session = self._client.get_transport() if self._client else None
        return bool(session and session.is_active())

    def _session(self) -> paramiko.Transport:
        """The live SSH connection, made (again) when there is none."""
        if self._closed:
            raise InternalError(f"{self!r} was used after close()")
        if not self._alive():
            self._drop()
            self._client = self._connect()
            self._remove_stale()
        session = self._client.get_transport() if self._client else None
        if session is None:
            raise InternalError("paramiko connected without a transport")
        return session

    def _sftp_or_exec(self) -> paramiko.SFTPClient | None:
        """This connection's SFTP client, or None when files go through exec channels (no SFTP, or forced)."""
        session = self._session()
        if self.transfer == "exec" or self._method == "exec":
            self._method = "exec"
            return None
        if self._sftp is not None and self._sftp.get_channel() is not None and not self._sftp.get_channel().closed:
            return self._sftp
        self._sftp = channel = None
        try:
            channel = session.open_session(timeout=self.connect_timeout_s)
            channel.settimeout(self.idle_timeout_s)
            channel.invoke_subsystem("sftp")  # refused by a server without the subsystem (OpenSSH)...
            self._sftp = paramiko.SFTPClient(channel)  # ...or accepted, then closed (Dropbear, no sftp-server)
        except _PAYLOAD_ERRORS as exc:
            if channel is not None:
                channel.close()
            if not self._alive():
                raise ConnectError(f"lost the connection to {self.label} while opening SFTP: {summarize(exc)}") from exc
            if self.transfer == "sftp":
                raise ConnectError(f"{self.label} offers no SFTP: {summarize(exc)}",
                                   hint="enable the sftp subsystem in the device's sshd_config, "
                                        "or let edgeq stream files through exec channels (transfer='auto')") from exc
            log.info("%s offers no SFTP (%s); files go through cat on exec channels", self.label, summarize(exc))
            self._method = "exec"
            return None
        if self._method is None:
            log.debug("%s: files go over SFTP", self.label)
        self._method = "sftp"
        return self._sftp

    def _connect(self) -> paramiko.SSHClient:
        identity = self.address.identity.expanduser() if self.address.identity else None
        if identity is not None and not identity.is_file():
            raise ConfigError(f"SSH identity {identity} does not exist", hint="pass --identity with a private key file")
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            try:
                client.get_host_keys().load(str(self.known_hosts))
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise ConfigError(f"cannot read known_hosts {self.known_hosts}: {summarize(exc)}") from exc
        client.set_missing_host_key_policy(_HostKeyPolicy(self))
        try:
            client.connect(self.address.host, self.port, username=self.user,
                           key_filename=str(identity) if identity else None,
                           allow_agent=identity is None, look_for_keys=identity is None,
                           timeout=self.connect_timeout_s, banner_timeout=self.connect_timeout_s,
                           auth_timeout=self.connect_timeout_s, channel_timeout=self.connect_timeout_s)
        except BaseException as exc:
            error = self._connect_error(client, exc, identity)
            client.close()
            if error is None:
                raise
            raise error from exc
        session = client.get_transport()
        if session is not None:
            session.set_keepalive(int(self.keepalive_s))
        log.debug("connected to %s", self.label)
        return client

    def _connect_error(self, client: paramiko.SSHClient, exc: BaseException,
                       identity: Path | None) -> EdgeqError | None:
        """The edgeq error for a failed ``SSHClient.connect``; None to let it through (ours, or not an error)."""
        where = self.label
        if isinstance(exc, EdgeqError) or not isinstance(exc, Exception):
            return None
        if isinstance(exc, paramiko.BadHostKeyException):
            return AuthError(
                f"the host key of {where} has CHANGED: {self.known_hosts} records {_describe(exc.expected_key)}, "
                f"the device presented {_describe(exc.key)}; refusing to connect (someone may be in the middle, "
                "or the device was reinstalled)",
                hint=f"if the change is expected, remove the old entry with "
                     f"`ssh-keygen -R {shlex.quote(_host_entry(self.address.host, self.port))} "
                     f"-f {shlex.quote(str(self.known_hosts))}` and connect once with --trust-new-host")
        keys = f"the key {identity}" if identity else "the agent's and the default keys (~/.ssh/id_*)"
        if isinstance(exc, paramiko.PasswordRequiredException):
            return AuthError(f"the SSH key {identity or '(default)'} is protected by a passphrase",
                             hint="load it into ssh-agent with `ssh-add` and leave out --identity")
        if isinstance(exc, paramiko.AuthenticationException):
            return AuthError(f"{where} refused the login of {self.user} with {keys}: {summarize(exc)}",
                             hint=f"add the public key to ~{self.user}/.ssh/authorized_keys on the device, "
                                  "or pass --identity")
        session = client.get_transport()
        if isinstance(exc, paramiko.SSHException) and session is not None and session.is_active():
            if not session.initial_kex_done:  # paramiko gives up on a slow handshake without saying so
                return ConnectError(f"cannot connect to {where}: the SSH handshake did not finish within "
                                    f"{self.connect_timeout_s:g} s", hint="is it an SSH server, and is it answering?")
            # The connection and host key were fine; what failed is the login (no usable key, bad key file).
            return AuthError(f"cannot log in to {where} as {self.user} with {keys}: {summarize(exc)}",
                             hint="pass --identity with a readable private key, or load one into ssh-agent")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
            return ConnectError(f"cannot connect to {where}: connection refused",
                                hint="is the device on and sshd listening on that port?")
        if isinstance(exc, socket.timeout | TimeoutError):
            return ConnectError(f"cannot connect to {where}: no answer within {self.connect_timeout_s:g} s",
                                hint="check the address, the network and any firewall")
        if isinstance(exc, socket.gaierror):
            return ConnectError(f"cannot connect to {where}: unknown host {self.address.host!r}",
                                hint="check the host name")
        if isinstance(exc, paramiko.SSHException | OSError | EOFError):
            return ConnectError(f"cannot connect to {where}: {summarize(exc)}",
                                hint="is it an SSH server, and is it answering?")
        return None

    def _drop(self) -> None:
        """Forget the connection (closing what is left of it)."""
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        self._method = None  # the next connection may be to another server: probe again
        for thing in (sftp, client):
            if thing is not None:
                try:
                    thing.close()
                except _PAYLOAD_ERRORS as exc:
                    log.debug("closing %s: %s", thing, summarize(exc))

    def _discard(self, temporary: str) -> None:
        """Remove a push's temporary; remember it for the next connection when this one is gone."""
        if self._alive():
            try:
                removed = self.run(["rm", "-f", "--", temporary], timeout_s=HOUSEKEEPING_TIMEOUT_S, check=False)
                if removed.ok:
                    return
                log.debug("removing %s on %s: %s", temporary, self.label, removed.stderr.strip())
            except TransportError as exc:
                log.debug("removing %s on %s: %s", temporary, self.label, summarize(exc))
        self._stale.add(temporary)

    def _remove_stale(self) -> None:
        if not self._stale:
            return
        stale, self._stale = sorted(self._stale), set()
        try:
            result = self.run(["rm", "-f", "--", *stale], timeout_s=HOUSEKEEPING_TIMEOUT_S, check=False)
        except TransportError:
            self._stale.update(stale)
            raise
        if not result.ok:
            log.warning("%s: could not remove leftover temporaries %s: %s", self.label, stale, result.stderr.strip())


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown host keys: refused with their fingerprint, or recorded when the user chose to trust new hosts."""

    def __init__(self, transport: SSHTransport) -> None:
        self.transport = transport

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        where, known_hosts = self.transport.label, self.transport.known_hosts
        if not self.transport.address.trust_new_host:
            raise AuthError(f"{where} presented an unknown host key {_describe(key)}, not in {known_hosts}",
                            hint="compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the device, "
                                 "then re-run with --trust-new-host to record it")
        try:
            _append_known_host(known_hosts, hostname, key)
        except OSError as exc:
            raise ConfigError(f"cannot record the host key of {where} in {known_hosts}: {exc.strerror or exc}") from exc
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("trusted the new host key of %s (%s) and recorded it in %s", where, _describe(key), known_hosts)


def _describe(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:…``: the key type and OpenSSH's fingerprint, as ``ssh-keygen -l`` shows them."""
    return f"{key.get_name()} {key.fingerprint}"


def _host_entry(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def _append_known_host(path: Path, hostname: str, key: paramiko.PKey) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = path.read_bytes() if path.is_file() else b""
    separator = "\n" if existing and not existing.endswith(b"\n") else ""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(f"{separator}{hostname} {key.get_name()} {key.get_base64()}\n")


def _marker_pgid(err: bytes | bytearray, token: str) -> int | None:
    match = re.search(re.escape(token.encode()) + rb" (\d+)\n", err)
    return int(match.group(1)) if match else None


def _strip_marker(err: bytes | bytearray, token: str) -> bytes:
    """stderr without the wrapper's process-group line."""
    return re.sub(re.escape(token.encode()) + rb" \d+\n", b"", bytes(err), count=1)
