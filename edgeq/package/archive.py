"""A folder as a byte-reproducible ``.tar.gz``, and the safe way back.

The same files give the same bytes on any machine: entries sorted, one mtime (``SOURCE_DATE_EPOCH`` or
0), uid/gid 0 with empty owner names, modes 0644/0755, plain ustar headers (no PAX records, which would
carry atime/ctime), and a gzip header with mtime 0, no file name and a fixed compression level. Reading
refuses what a bundle never holds: absolute paths, ``..``, links and devices.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from pathlib import Path

from edgeq.errors import ConfigError

_LEVEL = 9


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) or 0: the mtime of every entry."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not value.isdigit():
        raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {value!r}",
                          hint="unset it, or set it to e.g. $(git log -1 --format=%ct)")
    return int(value)


def write_tar_gz(folder: Path, out: Path) -> None:
    """``folder`` (as its own name at the top) into ``out``, written to a temporary name first."""
    mtime = source_date_epoch()
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                  compresslevel=_LEVEL) as zipped, \
                tarfile.open(fileobj=zipped, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for path in [folder, *sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix())]:
                name = folder.name if path == folder else f"{folder.name}/{path.relative_to(folder).as_posix()}"
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    raise ConfigError(f"{path}: a bundle holds only plain files and folders")
                if path.is_dir():
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    continue
                info.mode, info.size = 0o644, path.stat().st_size
                try:
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                except ValueError as exc:  # ustar: name too long
                    raise ConfigError(f"{name}: {exc}", hint="shorten the release or model name") from exc
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def top_folder(archive: Path) -> str:
    """The one folder a bundle's entries live in."""
    with tarfile.open(archive, mode="r:gz") as tar:
        tops = {member.name.split("/", 1)[0] for member in tar.getmembers()}
    if len(tops) != 1:
        raise ValueError(f"{archive.name} holds {len(tops)} top-level entries, not one folder")
    return tops.pop()


def extract(archive: Path, into: Path) -> Path:
    """Unpack ``archive`` into ``into`` and return its top folder; raises ``ValueError`` naming a bad entry."""
    try:
        top = top_folder(archive)
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise ValueError(f"{member.name}: a path outside the bundle")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{member.name}: not a plain file or folder")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{archive.name} is not a readable .tar.gz: {exc}") from exc
    return into / top


def copy_file(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)

