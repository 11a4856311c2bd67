"""SHA-256 of a file: the identity edgeq gives every artifact, cache entry and transfer.

Kept apart from the export stage (which needs torch) so that transports and the CLI can hash without it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
