"""Waiting without sleeping a fixed time: tests poll for a condition with a
generous deadline, so they never depend on how fast the machine is."""

import time


def wait_for(predicate, what, timeout=120.0, interval=0.02):
    """Poll predicate until it returns a true value and return that value;
    fail the test (AssertionError) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
