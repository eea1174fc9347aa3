"""LogThrottle: one line per key and interval, with a count of the lines held back."""

from __future__ import annotations

from stream.log_throttle import LogThrottle


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_throttle_admits_first_line() -> None:
    throttle = LogThrottle(30.0, _Clock())

    assert throttle.admit("invalid_json") == 0


def test_log_throttle_holds_back_within_interval() -> None:
    clock = _Clock()
    throttle = LogThrottle(30.0, clock)
    throttle.admit("invalid_json")

    clock.now = 29.0
    within_interval = [throttle.admit("invalid_json"), throttle.admit("invalid_json")]
    clock.now = 30.0
    admitted = throttle.admit("invalid_json")

    assert within_interval == [None, None]
    assert admitted == 2


def test_log_throttle_keys_are_independent() -> None:
    throttle = LogThrottle(30.0, _Clock())
    throttle.admit("invalid_json")

    assert throttle.admit("not_an_object") == 0
    assert throttle.admit("invalid_json") is None
