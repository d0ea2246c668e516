"""A few calls at a time, with what a one-at-a-time loop would have given: the same results in the same
order, the same failure, the same calls made whatever the threads' timing, the log in call order, and no
thread left behind. Plain calls here, timed with events; the same thing against Medusa is in test_terms.py."""

from __future__ import annotations

import logging
import random
import threading
import time

import pytest

from etl.sinks.medusa.parallel import HeldLog, in_order


class Refused(Exception):
    pass


def workers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("test-window")]


@pytest.mark.parametrize("workers", [1, 2, 4, 8, 20])
def test_results_come_in_call_order_whatever_order_the_calls_end_in(workers):
    delays = [random.uniform(0, 0.01) for _ in range(30)]

    def call(i):
        def run():
            time.sleep(delays[i])
            return i * 10
        return run

    assert in_order([call(i) for i in range(30)], workers, name="test-window") == ([i * 10 for i in range(30)],
                                                                                  None)
    assert workers_alive() == []


def test_the_failure_of_the_first_call_wins_even_when_a_later_one_failed_sooner():
    call_5_failed = threading.Event()

    def call(i):
        def run():
            if i == 3:
                assert call_5_failed.wait(5), "call 5 never ran"
                raise Refused("call 3")
            if i == 5:
                call_5_failed.set()
                raise Refused("call 5")
            return i
        return run

    results, error = in_order([call(i) for i in range(10)], 4, name="test-window")
    assert str(error) == "call 3" and results == [0, 1, 2], "the results before it, as a loop would stop"
    assert workers_alive() == []


@pytest.mark.parametrize("workers", [1, 3, 4])
def test_which_calls_run_after_a_failure_does_not_depend_on_timing(workers):
    """Calls up to failure + workers - 1 always run (some may be under way when it fails), none after: a
    recorded cassette holds what the run sends, so the run must send it again in a replay."""
    for _ in range(20):
        started: list[int] = []
        lock = threading.Lock()
        results, error = in_order([noting(i, started, lock) for i in range(20)], workers, name="test-window")
        assert str(error) == "call 6" and results == list(range(6))
        assert sorted(started) == list(range(6 + workers)), "up to the failure and the calls beside it, no more"
        assert workers_alive() == []


def noting(i: int, started: list[int], lock: threading.Lock):
    """A call that notes it started, takes a random moment, and fails if it is call 6 or 8."""
    def run():
        with lock:
            started.append(i)
        time.sleep(random.uniform(0, 0.003))
        if i in (6, 8):
            raise Refused(f"call {i}")
        return i
    return run


def test_one_worker_is_a_plain_loop_in_the_callers_thread():
    threads: list[str] = []

    def call(i):
        def run():
            threads.append(threading.current_thread().name)
            if i == 2:
                raise Refused("call 2")
            return i
        return run

    results, error = in_order([call(i) for i in range(5)], 1)
    assert results == [0, 1] and str(error) == "call 2"
    assert threads == [threading.current_thread().name] * 3, "nothing after the failure"


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_what_the_calls_log_comes_out_in_call_order():
    logger = logging.getLogger("etl.test.parallel")
    lines = Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    log = HeldLog(logger)
    done = [threading.Event() for _ in range(4)]

    def call(i):
        def run():
            if i < 3:
                assert done[i + 1].wait(5), "the calls after this one end first"
            log.warning("call %d, first line", i)
            log.info("call %d, second line", i)
            log.debug("call %d, not shown at INFO", i)
            done[i].set()
            return i
        return run

    try:
        assert in_order([call(i) for i in range(4)], 4, name="test-window") == ([0, 1, 2, 3], None)
        log.warning("outside any call: at once")
    finally:
        logger.removeHandler(lines)
    assert lines.lines == [f"call {i}, {which} line" for i in range(4) for which in ("first", "second")] + [
        "outside any call: at once"]
