"""An emulator of the device side of the adb protocol over TCP, so tests can drive the real ``adb`` client.

``adb connect 127.0.0.1:PORT`` (through a real adb server) sees a device with serial ``127.0.0.1:PORT``.
What it speaks (AOSP ``packages/modules/adb``: ``protocol.txt``, ``SERVICES.TXT``, ``SYNC.TXT``):

- transport messages CNXN, AUTH, OPEN, OKAY, WRTE, CLSE: 24-byte little-endian headers, magic, and the
  payload checksum when the negotiated version still needs it; version and max payload are negotiated
  with the CNXN the server sends, and every WRTE waits for the peer's OKAY (the protocol's flow control);
- ``shell,v2,...:CMD`` (shell protocol v2: stdin/close-stdin packets in, stdout/stderr/exit packets out)
  and plain ``shell:CMD`` for devices without ``shell_v2`` (one merged stream, ``\\n`` sent as ``\\r\\n``
  like the pty of an old device, no exit code);
- ``sync:`` with STAT, STA2, LST2, LIST, SEND (DATA chunks, DONE mtime, then OKAY/FAIL), RECV and QUIT.

**What it runs.** ``system="android"`` (the default) is a phone: ``getprop`` is a small script first on
``PATH``. ``system="linux"`` is an embedded Linux board running ``adbd`` (Yocto, Buildroot, Debian): no
``getprop`` anywhere on ``PATH`` (host folders that hold one are left out) and ``HOME=/home/edgeq``.

**The device's files.** Only one device folder exists -- ``/data/local/tmp`` on Android, the home
``/home/edgeq`` on Linux (``prefix``) -- and it is mapped to the host folder ``root``. Sync paths are
rewritten (``PREFIX/x`` -> ``root/x``; anything else is refused like an unwritable system path). Shell
commands run on the host with ``sh -c`` in ``root`` after every occurrence of the text ``PREFIX`` in the
command was replaced by ``root`` -- simple, and exact for the commands edgeq sends; output is not
rewritten back.

**Faults.** ``auth="never"`` answers CNXN with AUTH tokens and never accepts the key (``adb`` shows
*unauthorized*; ``authorize()`` is the user tapping *Allow*); ``state="offline"`` swallows CNXN, and
``go_offline()`` drops the connection into it so the server's reconnection leaves the device *offline*
(``adb connect`` to a device offline from the start waits 10 s for the handshake, so prefer
``go_offline()``); ``state="hung"`` accepts no new service (every ``adb shell`` hangs);
``disconnect()`` is pulling the cable; ``booted=False`` makes ``sys.boot_completed`` empty (Android);
``corrupt_push`` flips a byte of every SEND yet answers OKAY; a SEND of more than ``free_bytes`` fails with
*No space left on device* like a full disk. Like adbd, a command whose client went away keeps running
(until ``stop()``), so tests can see whether the transport killed it.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE = (
    int.from_bytes(name, "little") for name in (b"SYNC", b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001  # from this version on, payload checksums are neither sent nor checked
A_VERSION = A_VERSION_SKIP_CHECKSUM
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024

SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = 0, 1, 2, 3, 4, 5
SHELL_CHUNK = 32 * 1024

DEVICE_PREFIX = "/data/local/tmp"  # the device folder of an Android device
LINUX_HOME = "/home/edgeq"  # the device folder of a Linux board, and its shell's $HOME
SYSTEMS = ("android", "linux")
FEATURES_V2 = ("shell_v2", "cmd", "stat_v2")
FEATURES_OLD = ("cmd",)
_SAFE_ROOT = re.compile(r"[A-Za-z0-9_./-]+")


@dataclass(frozen=True)
class Message:
    """One transport message: a header's command and two arguments, and the payload."""

    command: int
    arg0: int
    arg1: int
    payload: bytes = b""

    @property
    def name(self) -> str:
        return self.command.to_bytes(4, "little").decode("ascii", "replace")


def checksum(payload: bytes) -> int:
    """The protocol's payload checksum: the byte sum (only versions before 0x01000001 check it)."""
    return sum(payload) & 0xFFFFFFFF


def pack_message(message: Message) -> bytes:
    header = struct.pack("<6I", message.command, message.arg0, message.arg1, len(message.payload),
                         checksum(message.payload), message.command ^ 0xFFFFFFFF)
    return header + message.payload


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class ProtocolError(Exception):
    """The peer sent something the adb protocol forbids; the connection is dropped, as adbd does."""


def read_message(sock: socket.socket, *, max_payload: int, check_sum: bool) -> Message | None:
    """The next message from ``sock``, or None when the peer closed the connection."""
    header = _recv_exact(sock, 24)
    if header is None:
        return None
    command, arg0, arg1, length, data_check, magic = struct.unpack("<6I", header)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic {magic:#x} for command {command:#x}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the maximum of {max_payload}")
    payload = _recv_exact(sock, length) if length else b""
    if payload is None:
        return None
    if check_sum and checksum(payload) != data_check:
        raise ProtocolError("payload checksum mismatch")
    return Message(command, arg0, arg1, payload)


def shell_packet(packet_id: int, data: bytes) -> bytes:
    """A shell protocol v2 packet: one id byte, a little-endian length, the data."""
    return struct.pack("<BI", packet_id, len(data)) + data


class AdbDevice:
    """The emulated device: listens on 127.0.0.1, one thread per connection and one per open service."""

    def __init__(self, root: Path, *, shell_v2: bool = True, auth: str = "accept", state: str = "online",
                 booted: bool = True, corrupt_push: bool = False, free_bytes: int | None = None,
                 max_payload: int = MAX_PAYLOAD, props: dict[str, str] | None = None,
                 system: str = "android") -> None:
        root = Path(root).resolve()
        if not _SAFE_ROOT.fullmatch(str(root)):
            raise ValueError(f"device root {root} must be a plain path ([A-Za-z0-9_./-]): it is pasted into commands")
        if auth not in ("accept", "never"):
            raise ValueError(f"auth must be 'accept' or 'never', not {auth!r}")
        if state not in ("online", "offline", "hung"):
            raise ValueError(f"state must be 'online', 'offline' or 'hung', not {state!r}")
        if system not in SYSTEMS:
            raise ValueError(f"system must be 'android' or 'linux', not {system!r}")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.system = system
        self.prefix = DEVICE_PREFIX if system == "android" else LINUX_HOME
        self._prefix_in_command = re.compile(r"(?<![\w.-])" + re.escape(self.prefix) + r"(?![\w.-])")
        self.features = FEATURES_V2 if shell_v2 else FEATURES_OLD
        self.auth = auth
        self.state = state
        self.corrupt_push = corrupt_push
        self.free_bytes = free_bytes
        self.max_payload = max_payload
        self._props = {"ro.product.cpu.abi": _android_abi(), "ro.build.version.sdk": "29",
                       "ro.product.model": "EdgeqEmulator", **(props or {})}
        self._bin = Path(tempfile.mkdtemp(prefix="adb-device-bin-"))
        self.booted = booted
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._processes: set[subprocess.Popen] = set()
        self._threads: list[threading.Thread] = []
        self.port = 0
        self.opened: list[str] = []  # every service the client opened, for tests of the emulator itself

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> AdbDevice:
        if self._listener is not None:
            return self
        if self.system == "android":
            self._write_getprop()
        elif Path("/system/build.prop").exists():
            raise RuntimeError("this host has /system/build.prop: an emulated Linux board would look like Android")
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._spawn_thread(self._accept_loop, self._listener, name=f"adb-device-{self.port}")
        return self

    def disconnect(self) -> None:
        """Pull the cable: drop every connection and accept no new one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the accept thread (close alone does not)
            except OSError:
                pass
            listener.close()
        self._drop_connections()

    def go_offline(self) -> None:
        """adbd stops answering: the server's reconnection gets no CNXN back, so adb shows *offline*."""
        self.state = "offline"
        self._drop_connections()

    def _drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def stop(self) -> None:
        """Disconnect, kill every command still running, and join the threads."""
        self.disconnect()
        with self._lock:
            processes = list(self._processes)
        for proc in processes:
            _kill_group(proc)
        for thread in list(self._threads):
            thread.join(timeout=5)
        shutil.rmtree(self._bin, ignore_errors=True)

    def __enter__(self) -> AdbDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state changes a test makes while the client is connected ----------------------------------------
    @property
    def booted(self) -> bool:
        return self._props.get("sys.boot_completed") == "1"

    @booted.setter
    def booted(self, value: bool) -> None:
        self._props["sys.boot_completed"] = "1" if value else ""
        self._write_props()

    def authorize(self) -> None:
        """The user taps *Allow* on the RSA key prompt: connections waiting for it come online."""
        self.auth = "accept"
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.key_accepted()

    def running_commands(self) -> list[str]:
        """Commands started through a shell service that are still running on the host."""
        with self._lock:
            return [" ".join(map(str, p.args)) for p in self._processes if p.poll() is None]

    # -- the device's files ---------------------------------------------------------------------------
    def host_path(self, device_path: str) -> Path:
        """Where a device path lives on the host; PermissionError outside the device folder (``prefix``)."""
        path = posixpath.normpath(device_path)
        if path == self.prefix:
            return self.root
        if not path.startswith(self.prefix + "/"):
            raise PermissionError(13, "Permission denied", device_path)
        return self.root / path[len(self.prefix) + 1:]

    def host_command(self, command: str) -> str:
        return self._prefix_in_command.sub(str(self.root), command)

    # -- internals --------------------------------------------------------------------------------------
    def _spawn_thread(self, target: Callable[..., None], *args: object, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # the listener was closed: disconnect() or stop()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, sock)
            with self._lock:
                self._connections.add(connection)
            self._spawn_thread(connection.serve, name=f"adb-conn-{self.port}")

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def banner(self) -> bytes:
        props = ";".join(f"{k}={v}" for k, v in (("ro.product.name", "edgeq_emu"),
                                                  ("ro.product.model", self._props["ro.product.model"]),
                                                  ("ro.product.device", "edgeq_emu")))
        return f"device::{props};features={','.join(self.features)}".encode()

    def spawn(self, command: str, *, merge_stderr: bool) -> subprocess.Popen:
        """Run a device command on the host: ``sh -c`` in the device folder, in its own process group."""
        host_path = os.environ.get("PATH", "/usr/bin:/bin")
        if self.system == "android":
            env = dict(os.environ, PATH=f"{self._bin}:{host_path}")
        else:  # a Linux board: no getprop, even if the host has one
            folders = [f for f in host_path.split(":") if f and not os.access(os.path.join(f, "getprop"), os.X_OK)]
            env = dict(os.environ, PATH=":".join(folders), HOME=LINUX_HOME)
        proc = subprocess.Popen(["sh", "-c", self.host_command(command)], cwd=self.root, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                start_new_session=True)
        with self._lock:
            self._processes = {p for p in self._processes if p.poll() is None}
            self._processes.add(proc)
        return proc

    def _write_getprop(self) -> None:
        script = self._bin / "getprop"
        script.write_text('#!/bin/sh\n# getprop of the emulated device: reads the properties file beside it.\n'
                          'props="$(dirname "$0")/props"\n'
                          'if [ $# -eq 0 ]; then sed \'s/^\\([^=]*\\)=\\(.*\\)$/[\\1]: [\\2]/\' "$props"; exit 0; fi\n'
                          'grep "^$1=" "$props" | head -n 1 | cut -d= -f2-\n'
                          'grep -q "^$1=" "$props" || echo\n')
        script.chmod(0o755)
        self._write_props()

    def _write_props(self) -> None:
        if self._bin.exists():
            (self._bin / "props").write_text("".join(f"{k}={v}\n" for k, v in self._props.items()))


class _Connection:
    """One TCP connection from the adb server: the handshake, then streams multiplexed over messages."""

    def __init__(self, device: AdbDevice, sock: socket.socket) -> None:
        self.device = device
        self.sock = sock
        self.version = A_VERSION
        self.max_payload = device.max_payload  # what we may send; lowered to the client's in CNXN
        self.online = False
        self.waiting_for_key = False
        self._send_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._next_id = 1
        self._closed = False

    def send(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> bool:
        data = pack_message(Message(command, arg0, arg1, payload))
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                return False
        return True

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def key_accepted(self) -> None:
        if self.waiting_for_key:
            self.waiting_for_key = False
            self._go_online()

    def serve(self) -> None:
        try:
            while True:
                message = read_message(self.sock, max_payload=self.device.max_payload,
                                       check_sum=self.version < A_VERSION_SKIP_CHECKSUM)
                if message is None:
                    break
                self._dispatch(message)
        except ProtocolError as exc:
            log.warning("adb device %s: dropping connection: %s", self.device.serial, exc)
        except OSError:
            pass  # closed under us by disconnect()
        finally:
            for stream in list(self._streams.values()):
                stream.peer_closed()
            if not self._closed:
                self.close()
            self.device._forget(self)

    def _dispatch(self, message: Message) -> None:
        if message.command == A_CNXN:
            self._on_connect(message)
        elif message.command == A_AUTH:
            self._on_auth(message)
        elif not self.online:
            raise ProtocolError(f"{message.name} before the connection was authorized")
        elif message.command == A_OPEN:
            self._on_open(message)
        elif message.command == A_WRTE:
            stream = self._streams.get(message.arg1)
            if stream is None:
                self.send(A_CLSE, 0, message.arg0)
                return
            stream.feed(message.payload)
            self.send(A_OKAY, stream.local_id, stream.remote_id)
        elif message.command == A_OKAY:
            stream = self._streams.get(message.arg1)
            if stream is not None:
                stream.peer_ready()
        elif message.command == A_CLSE:
            stream = self._streams.pop(message.arg1, None)
            if stream is not None:
                stream.peer_closed()
        else:
            raise ProtocolError(f"unknown command {message.command:#x}")

    def _on_connect(self, message: Message) -> None:
        self.version = min(message.arg0, A_VERSION)
        if self.version < A_VERSION_MIN:
            raise ProtocolError(f"client protocol version {message.arg0:#x} is too old")
        self.max_payload = min(message.arg1, self.device.max_payload)
        if self.device.state == "offline":
            return  # never answer: the server keeps the device "offline"
        if self.device.auth == "never":
            self.waiting_for_key = False
            self.send(A_AUTH, AUTH_TOKEN, 0, secrets.token_bytes(20))
            return
        self._go_online()

    def _on_auth(self, message: Message) -> None:
        if message.arg0 == AUTH_SIGNATURE:
            self.send(A_AUTH, AUTH_TOKEN, 0, secrets.token_bytes(20))  # no key is known: ask for the next one
        elif message.arg0 == AUTH_RSAPUBLICKEY:
            self.waiting_for_key = True  # the phone shows its prompt; authorize() is the user accepting
            if self.device.auth == "accept":
                self.key_accepted()

    def _go_online(self) -> None:
        self.online = True
        self.send(A_CNXN, self.version, self.device.max_payload, self.device.banner())

    def _on_open(self, message: Message) -> None:
        service = message.payload.rstrip(b"\0").decode("utf-8", "surrogateescape")
        self.device.opened.append(service)
        if self.device.state == "hung":
            return  # a hung device: the service never answers
        handler = _service_handler(service)
        if handler is None:
            self.send(A_CLSE, 0, message.arg0)
            return
        local_id, self._next_id = self._next_id, self._next_id + 1
        stream = _Stream(self, local_id, message.arg0)
        self._streams[local_id] = stream
        self.send(A_OKAY, local_id, message.arg0)
        self.device._spawn_thread(_run_service, handler, stream, self.device, name=f"adb-svc-{service[:20]}")

    def forget_stream(self, stream: _Stream) -> None:
        self._streams.pop(stream.local_id, None)


class _Stream:
    """One service's byte stream: WRTE payloads in, WRTEs out that each wait for the peer's OKAY."""

    def __init__(self, connection: _Connection, local_id: int, remote_id: int) -> None:
        self.connection = connection
        self.local_id = local_id
        self.remote_id = remote_id
        self._inbound = bytearray()
        self._cond = threading.Condition()
        self._ready = True
        self._closed = False
        self._write_lock = threading.Lock()

    # called by the connection thread
    def feed(self, data: bytes) -> None:
        with self._cond:
            self._inbound += data
            self._cond.notify_all()

    def peer_ready(self) -> None:
        with self._cond:
            self._ready = True
            self._cond.notify_all()

    def peer_closed(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # called by the service thread
    @property
    def closed(self) -> bool:
        return self._closed

    def read_exact(self, size: int) -> bytes | None:
        """``size`` bytes, or None when the peer closed the stream first."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._inbound) >= size or self._closed)
            if len(self._inbound) < size:
                return None
            data = bytes(self._inbound[:size])
            del self._inbound[:size]
            return data

    def write(self, data: bytes) -> bool:
        """Send ``data`` in WRTEs no larger than the negotiated payload; False once the stream is closed."""
        with self._write_lock:
            step = self.connection.max_payload
            for start in range(0, len(data), step):
                with self._cond:
                    self._cond.wait_for(lambda: self._ready or self._closed)
                    if self._closed:
                        return False
                    self._ready = False
                if not self.connection.send(A_WRTE, self.local_id, self.remote_id, data[start:start + step]):
                    return False
        return True

    def close(self) -> None:
        with self._cond:
            already, self._closed = self._closed, True
            self._cond.notify_all()
        self.connection.forget_stream(self)
        if not already:
            self.connection.send(A_CLSE, self.local_id, self.remote_id)


Service = Callable[[_Stream, AdbDevice], None]


def _service_handler(service: str) -> Service | None:
    """The handler for an OPEN's destination, with its argument bound; None for an unknown service."""
    if service == "sync:":
        return _sync
    name, _, command = service.partition(":")
    kind, *options = name.split(",")
    if kind == "shell":
        if "v2" in options:
            return lambda stream, device: _shell_v2(stream, device, command)
        return lambda stream, device: _shell_raw(stream, device, command)
    return None


def _run_service(handler: Service, stream: _Stream, device: AdbDevice) -> None:
    try:
        handler(stream, device)
    except Exception:  # a bug in the emulator must show in the test log and not hang the client
        log.exception("adb device %s: service failed", device.serial)
    finally:
        stream.close()


def _pump(source: BinaryIO, send: Callable[[bytes], bool]) -> None:
    """Copy a pipe to the stream until EOF; if the stream closes, close our end (the command gets SIGPIPE)."""
    try:
        while chunk := os.read(source.fileno(), SHELL_CHUNK):
            if not send(chunk):
                break
    finally:
        source.close()


def _shell_v2(stream: _Stream, device: AdbDevice, command: str) -> None:
    proc = device.spawn(command, merge_stderr=False)
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    pumps = [threading.Thread(target=_pump, args=(pipe, lambda d, i=i: stream.write(shell_packet(i, d))),
                              daemon=True)
             for pipe, i in ((proc.stdout, SHELL_STDOUT), (proc.stderr, SHELL_STDERR))]
    for pump in pumps:
        pump.start()
    threading.Thread(target=_shell_v2_input, args=(stream, proc.stdin), daemon=True).start()
    for pump in pumps:
        pump.join()
    code = proc.wait()
    exit_code = 128 - code if code < 0 else code
    stream.write(shell_packet(SHELL_EXIT, bytes([exit_code & 0xFF])))


def _shell_v2_input(stream: _Stream, stdin: BinaryIO) -> None:
    """Stdin packets from the client go to the command; close-stdin (or the stream closing) closes it."""
    try:
        while (header := stream.read_exact(5)) is not None:
            packet_id, length = struct.unpack("<BI", header)
            data = stream.read_exact(length) if length else b""
            if data is None:
                break
            if packet_id == SHELL_STDIN:
                stdin.write(data)
                stdin.flush()
            elif packet_id == SHELL_CLOSE_STDIN:
                break
    except OSError:
        pass  # the command exited and closed its stdin
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def _shell_raw(stream: _Stream, device: AdbDevice, command: str) -> None:
    proc = device.spawn(command, merge_stderr=True)
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdin.close()
    _pump(proc.stdout, lambda data: stream.write(data.replace(b"\n", b"\r\n")))
    proc.wait()


# -- sync: ----------------------------------------------------------------------------------------------

def _sync(stream: _Stream, device: AdbDevice) -> None:
    while (header := stream.read_exact(8)) is not None:
        request, length = struct.unpack("<4sI", header)
        if request == b"QUIT":
            return
        if length > 1024:
            _sync_fail(stream, "path too long")
            return
        raw = stream.read_exact(length)
        if raw is None:
            return
        path = raw.decode("utf-8", "surrogateescape")
        handler = _SYNC_REQUESTS.get(request)
        if handler is None:
            _sync_fail(stream, f"unknown sync request {request!r}")
            return
        if not handler(stream, device, path):
            return


def _sync_fail(stream: _Stream, reason: str) -> bool:
    data = reason.encode()
    return stream.write(b"FAIL" + struct.pack("<I", len(data)) + data)


def _sync_stat_v1(stream: _Stream, device: AdbDevice, path: str) -> bool:
    try:
        st = os.stat(device.host_path(path))
        fields = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF)
    except OSError:
        fields = (0, 0, 0)
    return stream.write(b"STAT" + struct.pack("<3I", *fields))


def _sync_stat_v2(stream: _Stream, device: AdbDevice, path: str, *, request: bytes, follow: bool) -> bool:
    try:
        st = os.stat(device.host_path(path), follow_symlinks=follow)
        body = struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                           st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))
    except OSError as exc:
        body = struct.pack("<IQQIIIIQqqq", exc.errno or 2, *([0] * 10))
    return stream.write(request + body)


def _sync_list(stream: _Stream, device: AdbDevice, path: str) -> bool:
    out = bytearray()
    try:
        folder = device.host_path(path)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            name = entry.name.encode("utf-8", "surrogateescape")
            out += b"DENT" + struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name)) + name
    except OSError:
        pass  # adbd lists nothing for a folder it cannot read
    out += b"DONE" + struct.pack("<4I", 0, 0, 0, 0)
    return stream.write(bytes(out))


def _sync_send(stream: _Stream, device: AdbDevice, spec: str) -> bool:
    path, _, mode_text = spec.rpartition(",")
    error: str | None = None
    target: Path | None = None
    handle = None
    created = False
    written = 0
    try:
        mode = int(mode_text or "0644")
        if stat.S_ISLNK(mode):
            raise PermissionError(1, "symlinks are not supported by the emulator")
        target = device.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)  # adbd makes the parent folders too
        handle = open(target, "wb")  # noqa: SIM115 -- closed at DONE, or on any failure below
        created = True
        os.chmod(target, stat.S_IMODE(mode) or 0o644)
    except (OSError, ValueError) as exc:
        error = f"couldn't create file: {getattr(exc, 'strerror', None) or exc}"
    corrupt = device.corrupt_push
    try:
        while (header := stream.read_exact(8)) is not None:
            request, length = struct.unpack("<4sI", header)
            if request == b"DATA":
                if length > SYNC_DATA_MAX:
                    raise ProtocolError(f"DATA chunk of {length} bytes")
                data = stream.read_exact(length) if length else b""
                if data is None:
                    return False
                if error is not None:
                    continue  # drain the file, answer FAIL at DONE (as adbd does)
                if device.free_bytes is not None and written + len(data) > device.free_bytes:
                    error = "couldn't write: No space left on device"
                    continue
                if corrupt and data:
                    data = data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
                    corrupt = False
                handle.write(data)
                written += len(data)
            elif request == b"DONE":
                if handle is not None:
                    handle.close()
                    handle = None
                if error is not None:
                    return _sync_fail(stream, error)
                os.utime(target, (length, length))
                return stream.write(b"OKAY" + struct.pack("<I", 0))
            else:
                raise ProtocolError(f"unexpected {request!r} inside SEND")
        return False
    except ProtocolError as exc:
        _sync_fail(stream, str(exc))
        return False
    finally:
        if handle is not None:
            handle.close()
        if error is not None and created and target is not None:
            target.unlink(missing_ok=True)  # adbd removes what it wrote of a failed file


def _sync_recv(stream: _Stream, device: AdbDevice, path: str) -> bool:
    try:
        handle = open(device.host_path(path), "rb")  # noqa: SIM115
    except OSError as exc:
        return _sync_fail(stream, exc.strerror or str(exc))
    with handle:
        while chunk := handle.read(SYNC_DATA_MAX):
            if not stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk):
                return False
    return stream.write(b"DONE" + struct.pack("<I", 0))


_SYNC_REQUESTS: dict[bytes, Callable[[_Stream, AdbDevice, str], bool]] = {
    b"STAT": _sync_stat_v1,
    b"STA2": lambda s, d, p: _sync_stat_v2(s, d, p, request=b"STA2", follow=True),
    b"LST2": lambda s, d, p: _sync_stat_v2(s, d, p, request=b"LST2", follow=False),
    b"LIST": _sync_list,
    b"SEND": _sync_send,
    b"RECV": _sync_recv,
}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("adb device: process %d did not die", proc.pid)


def _android_abi() -> str:
    machine = os.uname().machine
    return {"aarch64": "arm64-v8a", "armv7l": "armeabi-v7a", "x86_64": "x86_64"}.get(machine, machine)
