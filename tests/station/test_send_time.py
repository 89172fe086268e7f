"""A CALL is timed from when it left: the engine holds a pass's frames and
writes them together (fleetsim.engine.fleet), and tells the station when."""

from __future__ import annotations

from core_steps import AC_3PHASE, model
from harness import Bench


def test_a_call_taken_in_a_held_pass_is_timed_from_when_the_engine_sent_it() -> None:
    bench = Bench(model(AC_3PHASE), latency_s=0.004)
    bench.connect()
    bench.run_until(bench.station.wake_at_s)  # the BootNotification is taken; its answer comes 4 ms later
    call = bench.station.queue.in_flight
    assert call is not None and call.action == "BootNotification"
    taken_s = call.sent_s
    bench.station.on_sent(taken_s - 0.0005, taken_s + 0.0015)  # the pass that took it sent it 1.5 ms later
    assert call.sent_s == taken_s + 0.0015
    # What the engine holds next begins to be held as that send ends: this CALL left before.
    bench.station.on_sent(taken_s + 0.0015, taken_s + 0.003)
    assert call.sent_s == taken_s + 0.0015
    bench.run_for(0.01)
    boot = bench.station.stats.exchange("BootNotification")
    boot.fold()
    assert boot.answered == 1
    assert boot.service.get_total_count() == 1
    assert abs(boot.service.get_max_value() - 2_500) <= 3  # from 1.5 ms to 4 ms (0.1 % resolution)
    assert abs(boot.corrected.get_max_value() - 4_000) <= 4  # from when it was due, as before
