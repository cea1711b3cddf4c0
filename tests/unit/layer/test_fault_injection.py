from __future__ import annotations

import pytest

from lambda_toolkit.config import load_config
from lambda_toolkit.errors import ConfigurationError
from lambda_toolkit.fault_injection import FaultInjectionConfig, FaultInjector, InjectedTransientFault


def injector(rolls: list[float], **settings: str) -> tuple[FaultInjector, list[str]]:
    effects: list[str] = []
    config = load_config(FaultInjectionConfig, {"FAULT_INJECTION_ENABLED": "true", **settings})
    return FaultInjector(
        config, draw=lambda: rolls.pop(0),
        crash=lambda code: effects.append(f"crash {code}"),
        sleep=lambda seconds: effects.append(f"sleep {seconds:.1f}"),
    ), effects


def test_fault_injection_is_off_by_default() -> None:
    assert not FaultInjector(load_config(FaultInjectionConfig, {})).enabled
    FaultInjector(load_config(FaultInjectionConfig, {})).before_record("r", lambda: 1000)


def test_fault_injection_cannot_be_enabled_in_prod() -> None:
    # When a prod function is started with fault injection on
    with pytest.raises(ConfigurationError) as raised:
        load_config(FaultInjectionConfig, {"STAGE": "prod", "FAULT_INJECTION_ENABLED": "true"})

    # Then the cold start fails and says why
    assert "prod" in str(raised.value)


def test_each_share_of_rolls_gets_its_fault() -> None:
    # Given 10 % transient, 10 % crash, 10 % timeout
    faults, effects = injector(
        [0.05, 0.15, 0.25, 0.95],
        FAULT_TRANSIENT_RATE="0.1", FAULT_CRASH_RATE="0.1", FAULT_TIMEOUT_RATE="0.1",
    )

    # Then the rolls land in transient, crash, timeout and none, in that order
    with pytest.raises(InjectedTransientFault):
        faults.before_record("a", lambda: 3000)
    faults.before_record("b", lambda: 3000)
    faults.before_record("c", lambda: 3000)
    faults.before_record("d", lambda: 3000)
    assert effects == ["crash 137", "sleep 4.0"]


def test_rates_that_add_up_to_more_than_one_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        load_config(FaultInjectionConfig, {"FAULT_TRANSIENT_RATE": "0.6", "FAULT_CRASH_RATE": "0.6"})
