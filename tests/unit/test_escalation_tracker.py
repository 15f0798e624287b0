"""The per-call tracker for repeated failure on the same concern."""

from __future__ import annotations

import pytest

from appliance.escalation import EscalationSettings, FailureTracker, TurnOutcome
from tests.support.clock import ManualClock


def test_two_failures_on_the_same_concern_fire_once() -> None:
    tracker = FailureTracker(clock=ManualClock())
    assert tracker.record("appointment", TurnOutcome.FAILED) is None
    event = tracker.record("appointment", TurnOutcome.FAILED)
    assert event is not None
    assert event.trigger == "repeated_failure"
    assert "2 failed attempts" in event.reason
    assert "appointment" in event.reason
    assert tracker.record("appointment", TurnOutcome.FAILED) is None  # already fired
    assert tracker.failures("appointment") == 3


def test_failures_on_different_concerns_do_not_add_up() -> None:
    tracker = FailureTracker()
    assert tracker.record("balance", TurnOutcome.FAILED) is None
    assert tracker.record("opening_hours", TurnOutcome.FAILED) is None
    assert tracker.failures("balance") == 1


def test_concern_keys_are_folded() -> None:
    tracker = FailureTracker()
    tracker.record("Termin Verschieben", TurnOutcome.FAILED)
    assert tracker.record("termin verschieben", TurnOutcome.FAILED) is not None


def test_success_clears_the_concern_and_rearms_the_trigger() -> None:
    tracker = FailureTracker()
    tracker.record("card", TurnOutcome.FAILED)
    tracker.record("card", TurnOutcome.RESOLVED)
    assert tracker.failures("card") == 0
    assert tracker.record("card", TurnOutcome.FAILED) is None
    assert tracker.record("card", TurnOutcome.FAILED) is not None


def test_window_forgets_old_failures() -> None:
    clock = ManualClock()
    tracker = FailureTracker(window_s=60.0, clock=clock)
    tracker.record("invoice", TurnOutcome.FAILED)
    clock.now += 61.0
    assert tracker.record("invoice", TurnOutcome.FAILED) is None
    clock.now += 30.0
    assert tracker.record("invoice", TurnOutcome.FAILED) is not None


def test_disabled_tracker_counts_but_never_fires() -> None:
    settings = EscalationSettings(repeated_failure=False)
    tracker = FailureTracker.from_settings(settings)
    for _ in range(5):
        assert tracker.record("x", TurnOutcome.FAILED) is None
    assert tracker.failures("x") == 5


def test_from_settings_takes_limit_and_window() -> None:
    clock = ManualClock()
    tracker = FailureTracker.from_settings(
        EscalationSettings(max_failed_attempts=3, failure_window_s=10.0), clock
    )
    assert tracker.record("a", TurnOutcome.FAILED) is None
    assert tracker.record("a", TurnOutcome.FAILED) is None
    assert tracker.record("a", TurnOutcome.FAILED) is not None
    tracker.reset()
    assert tracker.failures("a") == 0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        FailureTracker(max_failures=0)
    with pytest.raises(ValueError, match="concern"):
        FailureTracker().record("  ", TurnOutcome.FAILED)
