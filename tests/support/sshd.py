"""A real OpenSSH ``sshd`` on loopback for tests: its own host key, an authorized client key, a log file.

Real parts over mocks: the SSH transport is tested against the server it meets in the field. The server
runs as the current user on a free port of 127.0.0.1, and can be killed like a crashing device (every sshd
process, connections included) and restarted on the same port with the same or a new host key.

    with SSHServer(tmp_path / "sshd") as server:
        transport = SSHTransport.connect(server.address())

A missing ``/usr/sbin/sshd`` fails loudly with the install command (``.ci/run`` installs it): these tests
are never skipped.
"""

from __future__ import annotations

import getpass
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from edgeq.transport.address import DeviceAddress

SSHD = Path("/usr/sbin/sshd")
INSTALL = "apt-get install -y --no-install-recommends openssh-server"
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0


class SSHDMissing(RuntimeError):
    """No OpenSSH server on this machine."""


def require_sshd() -> Path:
    """The sshd binary, or an error that says how to install it."""
    if not os.access(SSHD, os.X_OK):
        raise SSHDMissing(f"{SSHD} is not installed; the SSH integration tests need a real OpenSSH server: "
                          f"run `{INSTALL}` (as root or with sudo), as .ci/run does")
    return SSHD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def keygen(path: Path, key_type: str = "ed25519") -> Path:
    """A new passphrase-less key pair at ``path`` and ``path.pub`` (ssh-keygen, as users make them)."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", f"edgeq-test-{path.name}", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return path


def fingerprint(public_key: Path) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key file, from ``ssh-keygen -l`` itself."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[1]


class SSHServer:
    """One sshd: ``start``, ``stop`` (graceful), ``kill`` (a crash), ``restart`` (optionally with a new host key)."""

    require = staticmethod(require_sshd)  # the server binary, or an error with the install command

    def __init__(self, root: Path, *, port: int | None = None, host_key_type: str = "ed25519",
                 max_file_bytes: int | None = None, sftp: bool = True, force_command: str | None = None) -> None:
        """``max_file_bytes`` caps every file the server's sessions write (RLIMIT_FSIZE): a disk that fills up.

        ``sftp=False`` leaves the sftp subsystem out, as hardened servers do: files must go another way.
        ``force_command`` runs every session through that command (the client's is in ``$SSH_ORIGINAL_COMMAND``),
        as a board's vendor shell does: tests make devices that misbehave in one way each with it.
        """
        self.force_command = force_command
        self.binary = self.require()
        self.max_file_bytes = max_file_bytes
        self.sftp = sftp
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.config = root / "sshd_config"
        self.log = root / "sshd.log"
        self.pid_file = root / "sshd.pid"
        self.host_key = root / "host_key"
        self.client_key = keygen(root / "client_key")
        (root / "authorized_keys").write_text(self.client_key.with_name("client_key.pub").read_text())
        self._new_host_key(host_key_type)
        self.known_hosts = root / "known_hosts"
        self.process: subprocess.Popen[bytes] | None = None

    # -- what clients need ---------------------------------------------------------------------------

    @property
    def host_public_key(self) -> Path:
        return self.host_key.with_name(self.host_key.name + ".pub")

    @property
    def host_fingerprint(self) -> str:
        return fingerprint(self.host_public_key)

    @property
    def host_key_type(self) -> str:
        return self.host_public_key.read_text().split()[0]

    @property
    def host_entry(self) -> str:
        """How known_hosts names this server: ``[127.0.0.1]:PORT``."""
        return f"[{HOST}]:{self.port}"

    def known_hosts_line(self) -> str:
        key_type, key_base64 = self.host_public_key.read_text().split()[:2]
        return f"{self.host_entry} {key_type} {key_base64}\n"

    def write_known_hosts(self, path: Path | None = None) -> Path:
        """A known_hosts file that trusts this server's current host key (``self.known_hosts`` by default)."""
        path = path or self.known_hosts
        path.write_text(self.known_hosts_line())
        return path

    def address(self, **connection: object) -> DeviceAddress:
        """``ssh://USER@127.0.0.1:PORT`` with the client key and the trusting known_hosts; ``connection`` overrides."""
        if not self.known_hosts.exists():
            self.write_known_hosts()
        fields: dict[str, object] = {"host": HOST, "port": self.port, "user": self.user, "identity": self.client_key,
                                     "known_hosts": self.known_hosts, **connection}
        return DeviceAddress("ssh", **fields)  # type: ignore[arg-type]

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> SSHServer:
        if self.running:
            return self
        with self.log.open("ab") as log:
            self.process = self._launch(log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary.name} exited with {self.process.returncode} at start:\n"
                                   f"{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.binary.name} did not listen on {HOST}:{self.port} in {START_TIMEOUT_S:g} s:\n"
                           f"{self.log_tail()}")

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        """The server process, in the foreground, logging to ``log``."""
        self._write_config()
        if os.geteuid() == 0:
            # sshd running as root insists on its privilege-separation directory (systemd would make it).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        return subprocess.Popen([str(self.binary), "-D", "-e", "-f", str(self.config)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                preexec_fn=self._limit_file_size if self.max_file_bytes else None)

    def _new_host_key(self, key_type: str) -> None:
        keygen(self.host_key, key_type)

    def _limit_file_size(self) -> None:
        """In the sshd child before exec: writes past the cap fail with EFBIG instead of killing the writer."""
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.max_file_bytes, self.max_file_bytes))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop listening, then end every connection: the end of a test."""
        if self.process is None:
            return
        family = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _kill_all(family)
        self.process = None

    def kill(self) -> None:
        """SIGKILL sshd and every process it started, connections and their commands: a device that crashed."""
        if self.process is None:
            return
        _kill_all([self.process.pid, *descendants(self.process.pid)])
        self.process.wait()
        self.process = None

    def restart(self, *, new_host_key: str | None = None) -> SSHServer:
        """Start again on the same port; ``new_host_key`` (a key type) makes it a device with a new identity."""
        self.stop()
        if new_host_key:
            self._new_host_key(new_host_key)
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> SSHServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self) -> None:
        self.config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {HOST}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.pid_file}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PermitRootLogin yes\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PrintMotd no\n"
            "LogLevel VERBOSE\n"
            "MaxStartups 50\n"
            + ("Subsystem sftp internal-sftp\n" if self.sftp else "")
            + (f"ForceCommand {self.force_command}\n" if self.force_command else "")
        )


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (sshd's per-connection children, their sessions, their commands)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(process_alive(pid) for pid in pids):
        time.sleep(0.01)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for its parent counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
