"""Contract: the SQS mapping's concurrency scales as lambda/latest/dg/services-sqs-scaling.html says.

Five concurrent batches at first, up to 300 more per minute while messages wait, at most 1,000 (or
ScalingConfig.MaximumConcurrency), and back to five when traffic is low. A clock the test moves stands
for the minutes.
"""

from __future__ import annotations

from localcloud.event_sources.scaling import ConcurrencyScaler


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_concurrency_steps_up_by_300_per_minute_of_backlog_up_to_1000_then_back_to_5() -> None:
    # Given a mapping without ScalingConfig
    clock = Clock()
    scaler = ConcurrencyScaler(None, clock=clock)
    assert scaler.limit == 5

    # When every slot stays busy with messages waiting, minute after minute
    limits = []
    for _ in range(5):
        scaler.observe_saturated(messages_waiting=True)
        clock.now += 30
        scaler.observe_saturated(messages_waiting=True)
        clock.now += 30
        limits.append(scaler.observe_saturated(messages_waiting=True))

    # Then each minute adds 300, up to 1,000
    assert limits == [305, 605, 905, 1000, 1000]

    # And a minute of empty receives scales it back to 5
    scaler.observe_idle()
    clock.now += 59
    assert scaler.observe_idle() == 1000
    clock.now += 1
    assert scaler.observe_idle() == 5


def test_no_step_without_a_backlog_and_maximum_concurrency_caps_every_step() -> None:
    clock = Clock()
    # A saturated poller whose queue is empty does not scale
    scaler = ConcurrencyScaler(None, clock=clock)
    for _ in range(3):
        scaler.observe_saturated(messages_waiting=False)
        clock.now += 61
    assert scaler.limit == 5
    # MaximumConcurrency 3 starts at 3 (fewer than five) and never grows past it
    capped = ConcurrencyScaler(3, clock=clock)
    assert capped.limit == 3
    capped.observe_saturated(messages_waiting=True)
    clock.now += 61
    assert capped.observe_saturated(messages_waiting=True) == 3
    # MaximumConcurrency 50 grows to 50 in one step
    fifty = ConcurrencyScaler(50, clock=clock)
    fifty.observe_saturated(messages_waiting=True)
    clock.now += 60
    assert fifty.observe_saturated(messages_waiting=True) == 50


def test_the_time_scale_shortens_the_minute() -> None:
    clock = Clock()
    scaler = ConcurrencyScaler(None, time_scale=0.01, clock=clock)
    scaler.observe_saturated(messages_waiting=True)
    clock.now += 0.6
    assert scaler.observe_saturated(messages_waiting=True) == 305
