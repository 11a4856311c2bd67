"""Device profiles the release tests package for and verify on."""

import sys
from pathlib import Path


def loopback_board(folder: Path, workdir: Path) -> Path:
    """``folder/loopback-board.toml``: this host as an SSH board (its arch and engine, this Python, one thread) whose
    work dir is ``workdir``."""
    from edgeq.profiles import describe_host

    host = describe_host()
    path = folder / "loopback-board.toml"
    path.write_text(f'name = "loopback-board"\narch = "{host["arch"]}"\nengine = "{host["engine"]}"\ntransport = "ssh"\n'
                    f'formats = ["pte"]\nthreads = 1\npython = "{sys.executable}"\nworkdir = "{workdir}"\n')
    return path
