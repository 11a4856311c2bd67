import os
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))  # the public fakes and helpers tests import: edgeq_cli, user_models


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory):
    """Keep device workdirs (~/.cache/edgeq/device) out of the real home; share one artifact cache per session."""
    home = tmp_path_factory.mktemp("home")
    saved = {key: os.environ.get(key) for key in ("HOME", "EDGEQ_CACHE_DIR")}
    os.environ["HOME"] = str(home)
    os.environ.setdefault("EDGEQ_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def user_models() -> Path:
    return SUPPORT / "user_models.py"
