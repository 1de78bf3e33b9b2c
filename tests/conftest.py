from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").iterdir() if p.suffix in (".yaml", ".toml"))


@pytest.fixture(params=SCENARIOS, ids=lambda p: p.name)
def example_path(request) -> Path:
    return request.param
