"""An answer that comes after the station gave up on its CALL (the model's
declared response timeout) is a late answer, not a CSMS answering something
it was never asked."""

from __future__ import annotations

from core_steps import AC_3PHASE, model
from harness import Bench


def test_an_answer_after_the_declared_timeout_is_counted_late_and_the_call_as_a_timeout() -> None:
    station_model = model(AC_3PHASE)
    bench = Bench(station_model, latency_s=station_model.response_timeout_s + 2.0)
    bench.connect()
    bench.run_for(station_model.response_timeout_s + 5.0)
    counters = bench.station.stats.counters
    assert bench.station.stats.exchange("BootNotification").timeouts >= 1
    assert counters["csms.answer_after_timeout"] >= 1
    assert counters["csms.unexpected_result"] == 0
    # A result for a call never sent is still the CSMS breaking the protocol.
    bench.send_raw(b'[3,"no-such-call",{}]')
    bench.run_for(bench.latency_s + 1.0)
    assert counters["csms.unexpected_result"] == 1
