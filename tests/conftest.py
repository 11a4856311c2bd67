import os
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))  # the public fakes and helpers tests import: edgeq_cli, user_models

# xdist workers share the machine's cores: torch in each worker (and in each `edgeq` it starts) gets its share, not
# every core, or the workers' OpenMP threads spin-wait on each other (training zoo:digits-cnn takes 11 s alone, and
# over 200 s beside another worker doing the same). Set before torch is imported; a benchmark's runner still takes
# the profile's --threads.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory):
    """Keep device workdirs (~/.cache/edgeq/device) out of the real home; share one artifact cache per run."""
    home = tmp_path_factory.mktemp("home")
    saved = {key: os.environ.get(key) for key in ("HOME", "EDGEQ_CACHE_DIR")}
    os.environ["HOME"] = str(home)
    os.environ.setdefault("EDGEQ_CACHE_DIR", str(_run_cache(tmp_path_factory)))
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _run_cache(tmp_path_factory) -> Path:
    """The artifact cache of this run: xdist's workers share one (their temp folders sit in the run's), as they share
    CI's EDGEQ_CACHE_DIR, so a zoo model is trained and an artifact built once, not once a worker."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return tmp_path_factory.mktemp("cache")
    shared = tmp_path_factory.getbasetemp().parent / "cache"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture
def user_models() -> Path:
    return SUPPORT / "user_models.py"
