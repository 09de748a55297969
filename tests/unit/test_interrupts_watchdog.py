"""The process's one watchdog thread (``store.interrupts``): armed per task, fires only for the guard armed."""

import threading

from store.interrupts import TimeLimitExceeded, _Watchdog


class _Guard:
    def __init__(self, name: str, fired: list, done: threading.Event | None = None):
        self.name, self.fired, self.done = name, fired, done

    def _kill(self, error) -> None:
        self.fired.append((self.name, error.reason))
        if self.done is not None:
            self.done.set()


def test_a_disarmed_guard_never_fires_and_the_next_one_armed_does():
    dog, fired, done = _Watchdog(), [], threading.Event()
    first = _Guard("first", fired)
    dog.arm(first, 0.05, TimeLimitExceeded("first"))
    dog.disarm(first)  # its task returned in time
    second = _Guard("second", fired, done)
    dog.arm(second, 0.2, TimeLimitExceeded("second"))  # a later deadline than the first's
    assert done.wait(10)
    assert fired == [("second", "second")]  # the first's deadline passed before, and nothing fired


def test_an_earlier_deadline_wakes_it_and_many_tasks_share_one_thread():
    dog, fired, done = _Watchdog(), [], threading.Event()
    before = {t.ident for t in threading.enumerate()}
    for i in range(50):  # tasks that each return in time
        g = _Guard(f"t{i}", fired)
        dog.arm(g, 60.0, TimeLimitExceeded("slow"))
        dog.disarm(g)
    late = _Guard("interrupted", fired, done)
    dog.arm(late, 60.0, TimeLimitExceeded("limit"))
    dog.arm(late, 0.05, TimeLimitExceeded("cancelled"))  # an interrupt re-arms it sooner: it wakes for it
    assert done.wait(10)
    assert fired == [("interrupted", "cancelled")]
    started = [t for t in threading.enumerate() if t.ident not in before and t.name == "slaflow-watchdog"]
    assert len(started) == 1
