"""Run the real `edgeq` command in a subprocess, as a user's shell would."""

import os
import subprocess
import sys


def edgeq(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeq", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())
