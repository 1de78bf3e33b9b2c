import os
from pathlib import Path

import pytest

# progress lines go to stderr, which CliRunner mixes into .output; tests that want them
# (tests/test_cli_manners.py) turn them on
os.environ.setdefault("ALLOCATOR_PROGRESS", "off")

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").iterdir() if p.suffix in (".yaml", ".toml"))


@pytest.fixture(params=SCENARIOS, ids=lambda p: p.name)
def example_path(request) -> Path:
    return request.param
