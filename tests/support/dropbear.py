"""A real Dropbear SSH server on loopback for tests: the server of many boards, and one that offers no SFTP.

Dropbear serves SFTP only through an external ``/usr/lib/sftp-server``, which most boards lack. Debian's
``openssh-sftp-server`` (installed with ``openssh-server``) provides one, so the server hides it: its sftp
subsystem fails like a board's, and the SSH transport must move files another way. The server has the same interface as ``sshd.SSHServer`` (``start``, ``stop``, ``kill``, ``restart``,
``address()``, ``max_file_bytes``), its own host key made by ``dropbearkey``, and an authorized client key.

Dropbear reads ``~/.ssh/authorized_keys`` of the login's passwd entry and has no option to look elsewhere.
Rather than touch the real home, the server runs in a mount namespace of its own (a user namespace too when
not root) where ``/etc/passwd`` gives the login a home inside the server's folder, the device's ``~``, and
``/dev/null`` covers the sftp-server. Nothing outside the server's processes sees either.

    with DropbearServer(tmp_path / "dropbear") as server:
        transport = SSHTransport.connect(server.address())

A missing ``/usr/sbin/dropbear`` fails loudly with the install command (``.ci/run`` installs it): these
tests are never skipped.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import IO

from sshd import HOST, SSHServer

DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")
SFTP_SERVER = "/usr/lib/sftp-server"  # where Dropbear looks for one (compiled in)
INSTALL = "apt-get install -y --no-install-recommends dropbear-bin"


class DropbearMissing(RuntimeError):
    """No Dropbear server on this machine."""


def require_dropbear() -> Path:
    """The dropbear binary, or an error that says how to install it."""
    for binary in (DROPBEAR, DROPBEARKEY):
        if not os.access(binary, os.X_OK):
            raise DropbearMissing(f"{binary} is not installed; the Dropbear tests need a real Dropbear server: "
                                  f"run `{INSTALL}` (as root or with sudo), as .ci/run does")
    return DROPBEAR


# Runs before dropbear, in its process: caps file sizes (like SSHServer's max_file_bytes), enters a mount
# namespace of its own (and a user namespace when not root, for the right to mount), puts argv[1] over
# /etc/passwd there and /dev/null over argv[3] when it exists, and exec's argv[4:]. argv[2] is the file size
# cap, or "-" for none.
_LAUNCHER = r"""
import ctypes, os, resource, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
def check(rc, what):
    if rc != 0:
        errno = ctypes.get_errno()
        sys.exit(f"dropbear launcher: {what}: {os.strerror(errno)}")
passwd, cap, hidden, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if cap != "-":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(cap), int(cap)))
uid, gid = os.getuid(), os.getgid()
CLONE_NEWNS, CLONE_NEWUSER, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 0x10000000, 0x1000, 0x4000, 0x40000
check(libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid else 0)), "unshare")
if uid:
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
check(libc.mount(passwd.encode(), b"/etc/passwd", None, MS_BIND, None), "bind-mounting /etc/passwd")
if os.path.exists(hidden):  # executing /dev/null fails: the subsystem starts, then ends without a word
    check(libc.mount(b"/dev/null", hidden.encode(), None, MS_BIND, None), f"hiding {hidden}")
os.execv(argv[0], argv)
"""


class DropbearServer(SSHServer):
    """One Dropbear server, run and controlled like ``SSHServer``; the login's home is ``root / "home"``."""

    require = staticmethod(require_dropbear)

    def __init__(self, root: Path, *, port: int | None = None, host_key_type: str = "ed25519",
                 max_file_bytes: int | None = None) -> None:
        super().__init__(root, port=port, host_key_type=host_key_type, max_file_bytes=max_file_bytes, sftp=False)
        self.log = root / "dropbear.log"
        self.home = root / "home"
        self.passwd = root / "passwd"

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        self._write_home()
        command = [str(self.binary), "-F", "-E", "-s", "-m", "-p", f"{HOST}:{self.port}", "-r", str(self.host_key),
                   "-P", str(self.pid_file)]
        cap = str(self.max_file_bytes) if self.max_file_bytes else "-"
        return subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(self.passwd), cap, SFTP_SERVER, *command],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def _write_home(self) -> None:
        """The login's home with its authorized key, and the passwd file that points the login there."""
        ssh = self.home / ".ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.chmod(0o700)  # dropbear refuses keys under a home or .ssh others could write to
        (ssh / "authorized_keys").write_text((self.root / "authorized_keys").read_text())
        me = pwd.getpwuid(os.getuid())
        lines = [line for line in Path("/etc/passwd").read_text().splitlines()
                 if line.split(":", 1)[0] != me.pw_name]
        # /bin/sh: dropbear only starts a login shell listed in /etc/shells; a board's is a plain POSIX sh.
        lines.append(f"{me.pw_name}:x:{me.pw_uid}:{me.pw_gid}:edgeq test device:{self.home}:/bin/sh")
        self.passwd.write_text("\n".join(lines) + "\n")

    def _new_host_key(self, key_type: str) -> None:
        """A host key in Dropbear's format, and its public half as OpenSSH writes it (``host_key.pub``)."""
        self.host_key.unlink(missing_ok=True)
        made = subprocess.run([str(DROPBEARKEY), "-t", key_type, "-f", str(self.host_key)],
                              check=True, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        public = next(line for line in made.stdout.splitlines() if line.startswith(("ssh-", "ecdsa-")))
        self.host_public_key.write_text(public + "\n")
