"""An emulated aarch64 board: Debian's arm64 Python with PyPI's aarch64 torch and ExecuTorch, run by qemu-user.

No root filesystem tools and no binfmt: the board is a folder of unpacked
Debian arm64 packages (``apt-get download`` + ``dpkg-deb -x``) and unpacked
aarch64 wheels, and its ``python`` is a wrapper running
``qemu-aarch64-static -L ROOTFS ROOTFS/usr/bin/python3.11``. Built once per
package set into a cache folder (atomically, under a lock, so parallel pytest
processes share one build) and reused from there.

The host needs ``qemu-user-static`` and the arm64 architecture in apt::

    dpkg --add-architecture arm64 && apt-get update
    apt-get install -y --no-install-recommends qemu-user-static

Build by hand: ``python tests/support/arm_board.py build`` (prints where).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import py_compile
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("arm_board")

BUILDER_VERSION = 2  # bump when the layout of a built board changes

TORCH_VERSION = "2.9.1"  # PyPI's aarch64 2.9.1 is the CPU build; its aarch64 2.13 needs CUDA libraries
EXECUTORCH_VERSION = "1.0.1"  # its wheel requires torch >=2.9,<2.10

# Debian 12's arm64 packages the interpreter and the wheels' native code load; found by trying: importing torch,
# the ExecuTorch bindings and the lite interpreter, and running the runner. libssl3 (hashlib falls back to its
# built-in sha256), libbz2/liblzma (imported lazily, guarded) and libgomp1 (torch bundles its own) are not needed.
DEBIAN_PACKAGES = (
    "libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libffi8",
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib",
    "coreutils",  # the board's own uname, cat, df, sha256sum: what a device transport asks a device
)

# What `import torch` and the runner need: typing_extensions (torch's import), numpy (the runner's Tensor.numpy()).
# torch's other declared dependencies (sympy, networkx, jinja2, fsspec, filelock) are for compilers, not for running.
WHEELS = (
    f"torch=={TORCH_VERSION}",
    f"executorch=={EXECUTORCH_VERSION}",
    "numpy==2.4.6",
    "typing_extensions==4.16.0",
)
_WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
# Headers and CMake files only matter for building extensions; skipping them saves ~60 MB per board.
_SKIP_IN_WHEELS = re.compile(r"^(torch/include/|torch/share/|executorch/include/)")
# Byte-compiled at build time: all but the exporters and tests, which a board that only runs artifacts never imports
# (they still import, compiling on the fly). Halves the compile step.
_NOT_PRECOMPILED = re.compile(r"/(executorch/(backends|examples|exir|devtools|codegen|export)|torch/(_inductor|onnx)"
                              r"|numpy/(.*/)?tests)/")

# Board commands the host can run, each one a wrapper around the board's own binary under qemu.
PYTHON_NAMES = ("python", "python3", "python3.11")
COREUTILS = ("uname", "cat", "df", "sha256sum", "nproc")
# Host settings that mean nothing on (or would mislead) the board: OPENBLAS_CORETYPE names an x86 core here.
_HOST_ONLY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
                  "LD_PRELOAD", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

SETUP_HINT = ("on the host, as root: dpkg --add-architecture arm64 && apt-get update && "
              "apt-get install -y --no-install-recommends qemu-user-static")


class BoardError(RuntimeError):
    """The board cannot be built here; the message says what to install or fix."""


@dataclass(frozen=True)
class Board:
    """A built board: its folder, its root filesystem and the host-side commands that run on it."""

    home: Path
    manifest: dict = field(compare=False, repr=False)

    @property
    def rootfs(self) -> Path:
        return self.home / "rootfs"

    @property
    def bin_dir(self) -> Path:
        """``python``, ``python3``, ``uname``, … of the board; first on PATH, they make a local shell the board's."""
        return self.home / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python3"

    @property
    def versions(self) -> dict[str, str]:
        """What the board's runtime reports: python, torch, executorch."""
        return dict(self.manifest["versions"])

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment whose PATH finds the board's commands before the host's."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", os.defpath)])
        return env

    def run(self, argv: Sequence[str], *, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
        """Run a board command (``["python3", "-c", "…"]``, ``["uname", "-m"]``) and capture its output."""
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def default_cache_dir() -> Path:
    """Per user, outside the repository, and independent of a test session's temporary HOME."""
    if "EDGEQ_ARM_BOARD_CACHE" in os.environ:
        return Path(os.environ["EDGEQ_ARM_BOARD_CACHE"])
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "edgeq-arm-board"


def board_key() -> str:
    """The cache key: the builder, the Debian package names and the pinned wheels (Debian's versions are recorded)."""
    text = json.dumps({"builder": BUILDER_VERSION, "debian": sorted(DEBIAN_PACKAGES), "wheels": sorted(WHEELS),
                       "python": "3.11", "platforms": _WHEEL_PLATFORMS})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def qemu_path() -> Path:
    for name in ("qemu-aarch64-static", "qemu-aarch64"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BoardError(f"qemu-aarch64-static is not installed; {SETUP_HINT}")


def build_board(cache_dir: Path | None = None) -> Board:
    """Return the board for this package set, building it when the cache lacks it; safe to call concurrently."""
    cache_dir = Path(cache_dir or default_cache_dir())
    home = cache_dir / f"board-{board_key()}"
    if (home / "board.json").is_file():
        return _load(home)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if (home / "board.json").is_file():  # another process built it while we waited
            return _load(home)
        for stale in [*cache_dir.glob(f".building-{home.name}-*"), home]:  # an interrupted build, a half-deleted board
            shutil.rmtree(stale, ignore_errors=True)
        staging = cache_dir / f".building-{home.name}-{os.getpid()}"
        try:
            _build(staging, final=home, downloads=cache_dir / "downloads")
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _load(home)


def _load(home: Path) -> Board:
    board = Board(home, json.loads((home / "board.json").read_text(encoding="utf-8")))
    if not Path(board.manifest["qemu"]).exists():
        raise BoardError(f"the board at {home} runs {board.manifest['qemu']}, which is gone; {SETUP_HINT}")
    return board


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(staging: Path, *, final: Path, downloads: Path) -> None:
    """Download (unless cached), unpack, precompile and wrap; wrappers name ``final``, where staging is renamed to."""
    qemu = qemu_path()
    started = time.monotonic()
    debs = _download_debs(downloads / "debs")
    wheels = _download_wheels(downloads / "wheels")
    fetched = time.monotonic()
    rootfs = staging / "rootfs"
    rootfs.mkdir(parents=True)
    packages = {}
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(rootfs)], check=True, capture_output=True)
        name, version = deb.name.split("_")[:2]
        packages[name] = version.replace("%3a", ":")
    site = rootfs / "usr" / "lib" / "python3" / "dist-packages"  # on Debian's sys.path, as an apt-installed package would be
    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        _unpack_wheel(wheel, site)
    _precompile(rootfs / "usr" / "lib" / "python3.11", site)
    _write_wrappers(staging / "bin", qemu, rootfs, named=final / "rootfs")
    board = Board(staging, {})
    versions = _probe_versions(_write_wrappers(staging / ".probe-bin", qemu, rootfs))
    shutil.rmtree(staging / ".probe-bin")
    manifest = {"key": board_key(), "builder": BUILDER_VERSION, "debian": packages,
                "wheels": [w.name for w in wheels], "versions": versions, "qemu": str(qemu),
                "download_s": round(fetched - started, 1), "build_s": round(time.monotonic() - fetched, 1)}
    if versions.get("machine") != "aarch64" or versions.get("torch") != TORCH_VERSION:
        raise BoardError(f"the board built but does not report aarch64 with torch {TORCH_VERSION}: {versions}")
    (board.home / "board.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("built the arm board in %.1f s (+%.1f s downloading)", manifest["build_s"], manifest["download_s"])


def _download_debs(folder: Path) -> list[Path]:
    """Debian's arm64 packages, one .deb each; a package already downloaded is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in DEBIAN_PACKAGES if not list(folder.glob(f"{name}_*_arm64.deb"))]
    if missing:
        if "arm64" not in subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True,
                                         text=True).stdout.split():
            raise BoardError(f"apt does not know the arm64 architecture; {SETUP_HINT}")
        proc = subprocess.run(["apt-get", "download", *(f"{name}:arm64" for name in missing)], cwd=folder,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise BoardError(f"apt-get download failed: {proc.stderr.strip()[-500:]}; {SETUP_HINT}")
    return [max(folder.glob(f"{name}_*_arm64.deb")) for name in DEBIAN_PACKAGES]


def _download_wheels(folder: Path) -> list[Path]:
    """PyPI's aarch64 CPython 3.11 wheels of the pins, without their dependencies (WHEELS lists what is needed)."""
    folder.mkdir(parents=True, exist_ok=True)

    def cached(pin: str) -> Path | None:
        name, version = pin.split("==")
        stem = re.sub(r"[-_.]+", "_", name).lower()
        found = [w for w in folder.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
        return found[0] if found else None

    missing = [pin for pin in WHEELS if cached(pin) is None]
    if missing:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                "--abi", "abi3", "--abi", "none", "-d", str(folder)]
        for platform in _WHEEL_PLATFORMS:
            argv += ["--platform", platform]
        proc = subprocess.run([*argv, *missing], capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            raise BoardError(f"pip download {' '.join(missing)} failed: {proc.stderr.strip()[-500:]}")
    wheels = [cached(pin) for pin in WHEELS]
    if None in wheels:
        raise BoardError(f"pip download did not produce wheels for {missing}")
    return wheels


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """What pip would install, without pip: a wheel is a zip of the site-packages tree (plus ``.data`` folders)."""
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if _SKIP_IN_WHEELS.match(member.filename) or member.filename.split("/", 1)[0].endswith(".data"):
                continue  # a .data folder holds scripts and data files, nothing a board imports
            archive.extract(member, site)


def _precompile(*folders: Path) -> None:
    """Byte-compile with the host's 3.11 (same bytecode): under qemu, compiling torch's sources at import costs ~8 s."""
    if sys.version_info[:2] != (3, 11):
        log.warning("host Python is not 3.11: the board compiles its own bytecode on first import (slower)")
        return
    for folder in folders:
        compileall.compile_dir(folder, quiet=2, workers=0, rx=_NOT_PRECOMPILED,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def _write_wrappers(bin_dir: Path, qemu: Path, rootfs: Path, named: Path | None = None) -> Path:
    """One ``#!/bin/sh`` wrapper per board command; ``named`` is where ``rootfs`` will live when the wrappers run."""
    named = named or rootfs
    bin_dir.mkdir(parents=True, exist_ok=True)
    unset = " ".join(f"-u {name}" for name in _HOST_ONLY_ENV)
    targets = {name: Path("usr/bin/python3.11") for name in PYTHON_NAMES}
    for name in COREUTILS:
        targets[name] = next(p for p in (Path("bin") / name, Path("usr/bin") / name) if (rootfs / p).exists())
    for name, target in targets.items():
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/env {unset} "{qemu}" -L "{named}" "{named / target}" "$@"\n',
                           encoding="utf-8")
        wrapper.chmod(0o755)
    return bin_dir


_VERSIONS_PROBE = (
    "import json, platform\n"
    "from importlib.metadata import version\n"
    "print(json.dumps({'machine': platform.machine(), 'python': platform.python_version(),"
    " 'torch': version('torch'), 'executorch': version('executorch')}))\n"
)


def _probe_versions(bin_dir: Path) -> dict[str, str]:
    proc = subprocess.run([str(bin_dir / "python3"), "-c", _VERSIONS_PROBE], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise BoardError(f"the board's python does not start: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (or find in the cache) the emulated aarch64 board.")
    parser.add_argument("command", choices=["build", "path"], help="build: build if needed and describe it; "
                                                                   "path: print the board's python wrapper")
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"default: {default_cache_dir()}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        started = time.monotonic()
        board = build_board(args.cache_dir)
    except BoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "path":
        print(board.python)
        return 0
    versions = board.versions
    print(f"board:   {board.home}  (ready in {time.monotonic() - started:.1f} s)")
    print(f"python:  {board.python}")
    print(f"PATH:    {board.bin_dir}  (its {', '.join(PYTHON_NAMES + COREUTILS)})")
    print(f"runtime: {versions['machine']}, Python {versions['python']}, torch {versions['torch']}, "
          f"executorch {versions['executorch']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
