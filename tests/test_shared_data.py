"""The real candle data: a missing folder skips a test on a developer's checkout but fails CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import require_data


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_candle_data_fails_in_ci(tmp_path: Path, monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI needs it"):
        require_data(tmp_path / "nope")


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_candle_data_skips_outside_ci(tmp_path: Path, monkeypatch, ci) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_data(tmp_path / "nope")


def test_present_candle_data_is_returned_in_and_out_of_ci(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_data(tmp_path) == tmp_path
