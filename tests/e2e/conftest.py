import json
from pathlib import Path

import pytest
from edgeq_cli import edgeq

SUPPORT = Path(__file__).parents[1] / "support"
# rich would style, drop or choke on each of these if it parsed them; a file name cannot hold the closing tags
MARKUP_FOLDER = "[bold]m[/] [/] [brackets]"
MARKUP_FILE = "[bold]net [brackets].py"


@pytest.fixture(scope="session")
def markup() -> str:
    return MARKUP_FOLDER


@pytest.fixture(scope="session")
def vanishing(tmp_path_factory) -> str:
    """The ~1e-40-logit MLP of tests/support/user_models.py as a source whose folder and file names are rich
    markup: the whole path is what edgeq says it loads, the file's name and factory are the model's name."""
    folder = tmp_path_factory.mktemp("models") / MARKUP_FOLDER
    folder.mkdir(parents=True)
    (folder / MARKUP_FILE).write_text((SUPPORT / "user_models.py").read_text())
    return f"{folder / MARKUP_FILE}:vanishing_logits_mlp"


@pytest.fixture(scope="session")
def vanishing_name(vanishing) -> str:
    return f"{MARKUP_FILE}:vanishing_logits_mlp"


@pytest.fixture(scope="session")
def vanishing_result(vanishing) -> dict:
    proc = edgeq("run", vanishing, "--runs", "3", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "drop 100" not in proc.stdout
    return json.loads(proc.stdout)
