"""retry.attempts: bounded by attempts and a deadline, backoff doubling to a cap, jitter within its band."""

from __future__ import annotations

import random

import pytest

from lakeloader import retry
from lakeloader.retry import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now, self.sleeps = 100.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_stops_at_the_attempt_bound_with_one_pause_between_attempts():
    t = FakeClock()
    policy = Backoff(initial_s=0.2, max_s=1.0, jitter=0, max_attempts=6, sleep=t.sleep, clock=t.clock)
    assert list(retry.attempts(policy)) == [1, 2, 3, 4, 5, 6]
    assert t.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])  # doubling, capped at max_s


def test_a_success_ends_the_loop_without_another_pause():
    t = FakeClock()
    policy = Backoff(jitter=0, max_attempts=10, sleep=t.sleep, clock=t.clock)
    for attempt in retry.attempts(policy):
        if attempt == 3:
            break
    assert len(t.sleeps) == 2


def test_the_deadline_cuts_the_last_pause_for_one_final_attempt():
    t = FakeClock()
    policy = Backoff(initial_s=1, max_s=4, jitter=0, timeout_s=10, sleep=t.sleep, clock=t.clock)
    got = list(retry.attempts(policy))
    assert t.sleeps == pytest.approx([1, 2, 4, 3])  # 1+2+4 = 7, then the 4 s pause is cut to the deadline
    assert got == [1, 2, 3, 4, 5]  # the fifth attempt is the final look at the deadline
    assert t.now == pytest.approx(110)


def test_a_zero_timeout_allows_exactly_one_attempt():
    t = FakeClock()
    assert list(retry.attempts(Backoff(timeout_s=0, sleep=t.sleep, clock=t.clock))) == [1]
    assert t.sleeps == []


def test_full_jitter_pauses_stay_within_zero_and_the_delay():
    random.seed(7)
    t = FakeClock()
    policy = Backoff(initial_s=1, max_s=1, jitter=1.0, max_attempts=200, sleep=t.sleep, clock=t.clock)
    list(retry.attempts(policy))
    assert all(0 <= s <= 1 for s in t.sleeps)
    assert min(t.sleeps) < 0.2 and max(t.sleeps) > 0.8  # spread over the band, not a fixed pause


def test_partial_jitter_only_shortens_a_pause_by_its_fraction():
    t = FakeClock()
    policy = Backoff(initial_s=2, max_s=2, jitter=0.25, max_attempts=50, sleep=t.sleep, clock=t.clock)
    list(retry.attempts(policy))
    assert all(1.5 <= s <= 2 for s in t.sleeps)


def test_one_budget_shared_across_callers():
    t = FakeClock()
    budget = retry.attempts(Backoff(jitter=0, max_attempts=3, sleep=t.sleep, clock=t.clock))
    assert [next(budget, None) for _ in range(5)] == [1, 2, 3, None, None]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs max_attempts or timeout_s"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"timeout_s": -1}, "timeout_s must be 0 or positive"),
        ({"max_attempts": 2, "jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"max_attempts": 2, "multiplier": 0.5}, "multiplier at least 1"),
    ],
)
def test_an_unbounded_or_nonsensical_policy_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
