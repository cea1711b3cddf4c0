"""The time scale of the long AWS delays: real by default, one setting to shorten them for tests."""

from __future__ import annotations

import pytest

from localcloud.config import TIME_SCALE_VARIABLE, CloudConfig, time_scale_from_environment


def test_the_real_delays_are_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIME_SCALE_VARIABLE, raising=False)
    assert CloudConfig().time_scale == 1.0


def test_the_environment_variable_sets_the_time_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIME_SCALE_VARIABLE, "0.01")
    assert CloudConfig().time_scale == 0.01
    assert CloudConfig(time_scale=0.5).time_scale == 0.5  # an explicit setting wins


@pytest.mark.parametrize("text", ["fast", "0", "-1"])
def test_a_time_scale_that_is_not_a_positive_number_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(TIME_SCALE_VARIABLE, text)
    with pytest.raises(ValueError, match=TIME_SCALE_VARIABLE):
        time_scale_from_environment()
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        CloudConfig(time_scale=0)
