"""The adb transport: an Android device, or a Linux board running ``adbd``, reached through the ``adb`` client.

Why a subprocess and not a Python adb library: the user's ``adb`` already owns the USB devices, the RSA key
the phone trusted, and the server every other tool talks to. Every call names the device (``-s SERIAL``).

- **Which device.** ``connect`` asks the device once what it is (``os``): ``android`` when ``getprop`` is on
  its ``PATH`` or ``/system/build.prop`` exists, else ``linux`` (Yocto, Buildroot, Debian boards with
  ``adbd``). Only Android has ``sys.boot_completed``, so only Android is refused while it is still booting.

- **Exit codes.** Devices with ``shell_v2`` (Android 7+) return the command's exit code through
  ``adb shell``; older ones do not, so the command is followed by ``printf '\\n__EDGEQ_EXIT__%d\\n' "$?"``
  and the marker is parsed out of the output (which there merges stdout and stderr, with pty newlines).
- **Timeouts.** Every command first prints its shell's pid (``__EDGEQ_PID__``); adbd runs it in its own
  session, so on a timeout the local client is killed and then the remote process group.
- **Files.** A push lands on a temporary name beside the target, its SHA-256 is checked on the device
  (``sha256sum``: toybox on Android, coreutils or busybox on Linux) and only then renamed; a pull lands on
  a local temporary name, is checked, then ``os.replace``-d. A failure removes the temporary file and
  raises ``TransferError``.
- **Paths.** On Android ``~`` means ``/data/local/tmp``: the shell user's one writable folder on a stock
  phone (its ``$HOME`` is ``/``), and edgeq's work dir there is ``/data/local/tmp/edgeq`` (``DEFAULT_WORKDIR``).
  On Linux ``~`` is the shell's ``$HOME``, asked once, as over SSH; ``/data/local/tmp`` rarely exists there.
- **The client.** ``EDGEQ_ADB`` names the binary, else ``adb`` on ``PATH``. The server is the one adb
  itself picks (``ADB_SERVER_SOCKET``), or the address option ``server`` (``tcp:HOST:PORT``).
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from edgeq.errors import AuthError, CommandTimeout, ConfigError, ConnectError, TransferError, TransportError
from edgeq.digest import file_sha256
from edgeq.transport.address import DeviceAddress
from edgeq.transport.base import CommandResult, Transport, verified_download

log = logging.getLogger(__name__)

HOME = "/data/local/tmp"  # ~ on Android
DEFAULT_WORKDIR = "/data/local/tmp/edgeq"  # edgeq's work dir on Android
OS_KINDS = ("android", "linux")
INSTALL_HINT = "install it with `sudo apt-get install -y adb` (Debian/Ubuntu), or set EDGEQ_ADB=/path/to/adb"

_PID_MARK = "__EDGEQ_PID__"
_EXIT_MARK = "__EDGEQ_EXIT__"
_EXIT_TAIL = re.compile(r"\n" + _EXIT_MARK + r"(\d+)\n?\Z")
_NETWORK_SERIAL = re.compile(r"[\w.-]+:\d+")
_TRANSIENT_STATES = ("offline", "connecting", "authorizing")
_OTHER_MODES = ("bootloader", "recovery", "sideload", "rescue", "host")
_SERVICE_TIMEOUT_S = 60.0  # state queries, checksums, renames: small commands that only hang on a sick device
_KILL_TIMEOUT_S = 10.0
_TOOLS = {"android": "toybox, Android 8+", "linux": "coreutils or busybox"}

# sh -c scripts with their arguments as $1.. (quoted like any argument): no path is ever pasted into code
_SHA256 = 'if [ -f "$1" ]; then sha256sum < "$1"; else exit 91; fi'
_VERIFY_AND_RENAME = ('h=$(sha256sum < "$1") || { rm -f "$1"; exit 90; }; h=${h%% *}; '
                      'if [ "$h" != "$3" ]; then rm -f "$1"; echo "$h"; exit 91; fi; '
                      'mv -f "$1" "$2" || { rm -f "$1"; exit 92; }')
# what the device is (Android has getprop; a Linux board with adbd has not), then the shell's $HOME
_IDENTIFY = ('if command -v getprop >/dev/null 2>&1 || [ -f /system/build.prop ]; then echo android; '
             'else echo linux; fi; printf "%s\\n" "$HOME"')


def find_adb() -> str:
    """The adb client to drive: ``EDGEQ_ADB``, else ``adb`` on ``PATH``; ConfigError with the fix otherwise."""
    override = os.environ.get("EDGEQ_ADB")
    if override:
        if not os.access(override, os.X_OK):
            raise ConfigError(f"EDGEQ_ADB={override} is not an executable adb client", hint=INSTALL_HINT)
        return override
    found = shutil.which("adb")
    if not found:
        raise ConfigError("the adb client is not installed (no `adb` on PATH)", hint=INSTALL_HINT)
    return found


class ADBTransport(Transport):
    """One device through the ``adb`` client; build it with ``connect`` so its state is checked.

    ``os`` is ``"android"`` or ``"linux"`` once the device was asked (``connect`` does; else the first ``~``).
    """

    name = "adb"

    def __init__(self, serial: str, *, adb: str | None = None, server: str | None = None, shell_v2: bool = True,
                 transfer_timeout_s: float = 600.0) -> None:
        self.serial = serial
        self.adb = adb or find_adb()
        self.shell_v2 = shell_v2
        self.transfer_timeout_s = transfer_timeout_s
        self._env = dict(os.environ, ADB_SERVER_SOCKET=server) if server else None
        self.os: str | None = None
        self._home: str | None = None  # the shell's $HOME, as the device reported it

    @classmethod
    def connect(cls, address: DeviceAddress, *, offline_grace_s: float = 3.0) -> ADBTransport:
        """A transport to ``address.serial`` once the device is attached, authorized and booted.

        ``offline_grace_s`` lets a device that just appeared finish its handshake before offline is an error.
        """
        if not address.serial:
            raise ConfigError(f"device {address} names no adb serial",
                              hint="write it as adb://SERIAL (see `adb devices`)")
        transport = cls(address.serial, server=address.options.get("server"))
        transport._wait_until_ready(offline_grace_s)
        return transport

    # -- the verbs --------------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout_s: float | None = None, check: bool = True) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        start = time.monotonic()
        proc = self._start_shell(shlex.join(argv))
        try:
            out_b, err_b = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            pid, *_ = self._unwrap(*proc.communicate(), proc.returncode)
            self._kill_remote(pid)
            raise CommandTimeout(f"{argv[0]} did not finish within {timeout_s:g} s on {self.serial}",
                                 hint="raise the timeout for a slow device, or look for a hang in the command"
                                 ) from None
        duration_s = time.monotonic() - start
        pid, code, out, err = self._unwrap(out_b, err_b, proc.returncode)
        if pid is None or code is None:  # the command never started, or the device went away under it
            self._raise_unreachable(err or out, doing=f"running {argv[0]}")
        result = CommandResult(argv, code, out, err, duration_s)
        return result.check() if check else result

    def _start_shell(self, command: str) -> subprocess.Popen:
        """``adb shell`` of ``command`` wrapped to print its pid first (and, on old devices, its exit code last)."""
        if self.shell_v2:
            shell = ["shell", "-T", f"echo {_PID_MARK}$$ >&2; {command}"]
        else:  # old adbd: pty only (no -T), one merged stream, no exit code
            shell = ["shell", f"echo {_PID_MARK}$$; {command}; printf '\\n{_EXIT_MARK}%d\\n' \"$?\""]
        try:
            return subprocess.Popen(self._argv(*shell), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self._env)
        except OSError as exc:
            raise ConfigError(f"cannot run the adb client {self.adb}: {exc.strerror or exc}",
                              hint=INSTALL_HINT) from exc

    def _unwrap(self, out_b: bytes, err_b: bytes, returncode: int) -> tuple[int | None, int | None, str, str]:
        """``(pid, exit code, stdout, stderr)`` with our markers taken out; None where a marker is missing."""
        out, err = _decode(out_b), _decode(err_b)
        if self.shell_v2:
            pid, err = _take_pid(err)
            return pid, returncode, out, err
        pid, out = _take_pid(out.replace("\r\n", "\n"))
        code, out = _take_exit(out)
        return pid, code, out, err

    def push(self, local: Path, remote: str) -> None:
        local = Path(local)
        if not local.is_file():
            raise TransferError(f"{local} does not exist")
        remote = self.expand(remote)
        expected = file_sha256(local)
        partial = _partial_name(remote)
        try:
            result = self._adb("push", str(local.absolute()), partial, timeout_s=self.transfer_timeout_s)
            if result.returncode != 0:
                self._raise_transfer(result, f"pushing {local.name} to {remote} on {self.serial} failed")
            check = self.run(["sh", "-c", _VERIFY_AND_RENAME, "edgeq-push", partial, remote, expected],
                             timeout_s=_SERVICE_TIMEOUT_S, check=False)
        except BaseException:  # a failed push, a timeout, Ctrl-C: leave nothing behind on the device
            self._remove_quietly(partial)
            raise
        if check.returncode == 91:
            raise TransferError(f"{local.name} arrived corrupted at {remote} on {self.serial}: sha256 "
                                f"{check.stdout.strip()[:16]}… instead of {expected[:16]}…",
                                hint="retry; if it repeats, check the cable and the device's storage")
        if check.returncode != 0:
            raise TransferError(f"cannot verify and rename {remote} on {self.serial} (exit {check.returncode}): "
                                f"{_last_line(check.stderr or check.stdout)}",
                                hint=f"the device needs `sha256sum` and `mv` ({self._tools})")

    def pull(self, remote: str, local: Path) -> None:
        remote, local = self.expand(remote), Path(local)
        expected = self.sha256(remote)
        if expected is None:
            raise TransferError(f"{remote} does not exist on {self.serial}")
        try:
            with verified_download(local, expected, f"{remote} from {self.serial}") as partial:
                result = self._adb("pull", remote, str(partial.absolute()), timeout_s=self.transfer_timeout_s)
                if result.returncode != 0:
                    self._raise_transfer(result, f"pulling {remote} from {self.serial} failed")
        except OSError as exc:
            raise TransferError(f"pulling {remote} to {local} failed: {exc.strerror or exc}") from exc

    def sha256(self, remote: str) -> str | None:
        result = self.run(["sh", "-c", _SHA256, "edgeq-sha256", self.expand(remote)],
                          timeout_s=_SERVICE_TIMEOUT_S, check=False)
        if result.returncode == 91:
            return None
        digest = result.stdout.split()[0] if result.stdout.split() else ""
        if result.returncode != 0 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            reason = _last_line(result.stderr or result.stdout)
            raise TransferError(f"cannot checksum {remote} on {self.serial}: {reason}",
                                hint=f"the device needs `sha256sum` ({self._tools})")
        return digest

    def expand(self, path: str) -> str:
        """``~`` is ``/data/local/tmp`` on Android (the one folder the shell user can write), ``$HOME`` on Linux."""
        if path != "~" and not path.startswith("~/"):
            return path
        if self.os is None:
            self._identify()
        if self.os == "android":
            return HOME + path[1:]
        if not self._home or not self._home.startswith("/"):
            raise TransportError(f"device {self.serial} reports no usable home directory ({self._home!r})",
                                 hint="use an absolute workdir in the profile, or set HOME for adbd on the device")
        return self._home if path == "~" else posixpath.join(self._home, path[2:])

    @property
    def _tools(self) -> str:
        """Where the device's shell tools come from, for hints."""
        return _TOOLS.get(self.os or "", "toybox on Android 8+, coreutils or busybox on Linux")

    # -- device state -----------------------------------------------------------------------------------
    def state(self) -> str:
        """What adb says of the device: ``device``, ``unauthorized``, ``offline``, ``absent``, a boot mode…"""
        result = self._adb("get-state", timeout_s=_SERVICE_TIMEOUT_S)
        if result.returncode == 0:
            return result.stdout.strip()
        error = result.stderr.lower()
        if "cannot connect to daemon" in error or "failed to start daemon" in error:
            raise ConnectError(f"the adb server is not reachable: {_last_line(result.stderr)}",
                               hint="run `adb start-server` and look at its error, or `adb kill-server` and retry")
        for state in ("unauthorized", "offline", "connecting", "authorizing"):
            if state in error:
                return state
        if "not found" in error or "no devices" in error:
            return "absent"
        return _last_line(result.stderr) or "unknown"

    def _wait_until_ready(self, offline_grace_s: float) -> None:
        state = self.state()
        if state == "absent" and _NETWORK_SERIAL.fullmatch(self.serial):
            attempt = self._adb("connect", self.serial, select=False, timeout_s=_SERVICE_TIMEOUT_S)
            log.info("adb connect %s: %s", self.serial, _last_line(attempt.stdout + attempt.stderr))
            state = self.state()
        deadline = time.monotonic() + offline_grace_s
        while state in _TRANSIENT_STATES and time.monotonic() < deadline:
            time.sleep(0.2)
            state = self.state()
        if state != "device":
            raise self._state_error(state)
        features = self._adb("features", timeout_s=_SERVICE_TIMEOUT_S)
        self.shell_v2 = "shell_v2" in features.stdout.split()
        if self._identify() != "android":
            return  # a Linux board has no boot property: adbd answering is all there is to wait for
        booted = self.run(["getprop", "sys.boot_completed"], timeout_s=_SERVICE_TIMEOUT_S, check=False)
        if booted.stdout.strip() != "1":
            raise ConnectError(f"device {self.serial} is still booting (sys.boot_completed is not 1)",
                               hint=f"wait until it has booted, e.g. adb -s {self.serial} wait-for-device shell "
                                    "'while [ \"$(getprop sys.boot_completed)\" != 1 ]; do sleep 1; done'")

    def _identify(self) -> str:
        """Ask the device once whether it is Android or plain Linux, and its shell's ``$HOME``."""
        result = self.run(["sh", "-c", _IDENTIFY], timeout_s=_SERVICE_TIMEOUT_S, check=False)
        kind, _, home = result.stdout.partition("\n")
        if result.returncode != 0 or kind.strip() not in OS_KINDS:
            raise TransportError(f"cannot tell what device {self.serial} runs: "
                                 f"{_last_line(result.stderr or result.stdout) or f'exit {result.returncode}'}",
                                 hint=f"check that `adb -s {self.serial} shell` gives a POSIX shell")
        self.os, self._home = kind.strip(), home.rstrip("\r\n") or None
        log.info("adb device %s runs %s (HOME=%s)", self.serial, self.os, self._home)
        return self.os

    def _state_error(self, state: str) -> TransportError:
        serial = self.serial
        if state == "unauthorized":
            return AuthError(f"device {serial} has not authorized this computer (adb says unauthorized)",
                             hint="unlock the phone and accept the 'Allow USB debugging?' RSA key prompt, "
                                  "ticking 'Always allow'; if no prompt shows, revoke USB debugging "
                                  "authorizations in Developer options and reconnect")
        if state in _TRANSIENT_STATES:
            return ConnectError(f"device {serial} is {state}",
                                hint="reconnect the cable or run `adb connect HOST:PORT` again, then check "
                                     "`adb devices -l`; if it stays offline, toggle USB debugging on the device")
        if state == "absent":
            return ConnectError(f"no device {serial} is attached to adb",
                                hint="check `adb devices -l`: plug it in with USB debugging on, or "
                                     "`adb connect HOST:PORT` for a device on the network")
        if state in _OTHER_MODES:
            return ConnectError(f"device {serial} is in {state} mode, not running Android",
                                hint=f"reboot it into Android: adb -s {serial} reboot")
        return ConnectError(f"device {serial} is not usable: {state}", hint="check `adb devices -l`")

    def _raise_unreachable(self, output: str, *, doing: str) -> None:
        state = self.state()
        if state != "device":
            raise self._state_error(state)
        raise TransportError(f"{doing} on {self.serial} failed in adb: {_last_line(output) or 'no output'}",
                             hint="check `adb devices -l`, then retry")

    def _raise_transfer(self, result: subprocess.CompletedProcess, what: str) -> None:
        # adb prints file errors as "adb: error: ..." (on stdout, for push) and device errors as "error: ..."
        lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if "error:" in line]
        message = lines[0][:300] if lines else _last_line(result.stderr + "\n" + result.stdout)
        if message.startswith("error:"):
            self._raise_unreachable(message, doing=what)
        raise TransferError(f"{what}: {message.removeprefix('adb: error: ')}")

    # -- the client -------------------------------------------------------------------------------------
    def _argv(self, *args: str, select: bool = True) -> list[str]:
        return [self.adb, "-s", self.serial, *args] if select else [self.adb, *args]

    def _adb(self, *args: str, timeout_s: float, select: bool = True) -> subprocess.CompletedProcess:
        argv = self._argv(*args, select=select)
        log.debug("adb: %s", shlex.join(argv))
        try:
            return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, env=self._env)
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"adb {args[0]} did not finish within {timeout_s:g} s on {self.serial}",
                                 hint="check `adb devices -l`; a hung device may need a reboot") from exc
        except OSError as exc:
            raise ConfigError(f"cannot run the adb client {self.adb}: {exc.strerror or exc}",
                              hint=INSTALL_HINT) from exc

    def _kill_remote(self, pid: int | None) -> None:
        """Best effort: kill the timed-out command's process group on the device."""
        if pid is None:
            return  # it never started (a hung device): nothing to kill
        try:
            self._adb("shell", f"kill -9 -- -{pid} 2>/dev/null || kill -9 {pid} 2>/dev/null",
                      timeout_s=_KILL_TIMEOUT_S)
        except TransportError as exc:
            log.warning("could not kill process group %d on %s: %s", pid, self.serial, exc)

    def _remove_quietly(self, remote: str) -> None:
        try:
            self._adb("shell", shlex.join(["rm", "-f", remote]), timeout_s=_KILL_TIMEOUT_S)
        except TransportError as exc:
            log.warning("could not remove %s on %s: %s", remote, self.serial, exc)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _take_pid(text: str) -> tuple[int | None, str]:
    """The pid our wrapper printed first, and the text without that line."""
    first, newline, rest = text.partition("\n")
    if newline and first.startswith(_PID_MARK) and first[len(_PID_MARK):].isdigit():
        return int(first[len(_PID_MARK):]), rest
    return None, text


def _take_exit(text: str) -> tuple[int | None, str]:
    """The exit code our wrapper printed last (old devices), and the text without it."""
    match = _EXIT_TAIL.search(text)
    if match is None:
        return None, text
    return int(match.group(1)), text[:match.start()]


def _partial_name(remote: str) -> str:
    """A temporary name in the target's folder, so the final rename never crosses file systems."""
    folder, slash, name = remote.rpartition("/")
    return f"{folder}{slash}.{name}.edgeq-partial-{secrets.token_hex(4)}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
