"""The CSMS's one timer task: due order, an earlier entry waking the sleeper,
and a failing callback not stopping the others."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from fleetsim.csms.timers import TimerHeap


async def test_callbacks_run_at_their_due_time_in_order(autojump_clock: trio.testing.MockClock) -> None:
    timers = TimerHeap()
    fired: list[tuple[str, float, float]] = []

    def record(name: str, _: object, due_s: float) -> None:
        fired.append((name, due_s, trio.current_time()))

    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timers.run)
            await trio.testing.wait_all_tasks_blocked()
            timers.schedule(10, record, "ten")
            timers.schedule(30, record, "thirty")
            await trio.sleep(1)
            timers.schedule(5, record, "five, scheduled while the task sleeps towards ten")
            timers.schedule(10, record, "ten again, after the first ten")
            await trio.sleep(40)
            nursery.cancel_scope.cancel()
    assert [(name.split(",")[0], due, now) for name, due, now in fired] == [
        ("five", 5, 5),
        ("ten", 10, 10),
        ("ten again", 10, 10),
        ("thirty", 30, 30),
    ]
    assert len(timers) == 0


async def test_a_failing_callback_is_counted_and_the_rest_still_run(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    timers = TimerHeap()
    fired: list[float] = []

    def boom(*_: object) -> None:
        raise ValueError("boom")

    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timers.run)
            timers.schedule(1, boom)
            timers.schedule(2, lambda _a, _b, due_s: fired.append(due_s))
            await trio.sleep(3)
            nursery.cancel_scope.cancel()
    assert fired == [2] and timers.failures == 1 and "boom" in caplog.text


async def test_nothing_runs_inside_a_pause(autojump_clock: trio.testing.MockClock) -> None:
    timers = TimerHeap()
    timers.pause_from_s, timers.pause_until_s = 10.0, 20.0
    fired: list[float] = []
    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timers.run)
            for due_s in (5, 12, 25):
                timers.schedule(due_s, lambda _a, _b, _due: fired.append(trio.current_time()))
            await trio.sleep(30)
            nursery.cancel_scope.cancel()
    assert fired == [5, 20, 25]
