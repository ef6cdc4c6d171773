from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "tradeloop.db")
