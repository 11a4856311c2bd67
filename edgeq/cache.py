"""Where edgeq keeps things between runs: the user cache dir, or ``EDGEQ_CACHE_DIR``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    override = os.environ.get("EDGEQ_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("edgeq"))
