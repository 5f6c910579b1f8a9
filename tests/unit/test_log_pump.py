"""The local runner's REPORT line: measured figures, also once the runtime has gone."""

from __future__ import annotations

from local.runtime import _LogPump


def test_a_report_printed_after_the_runtime_ended_carries_the_peak_measured_before() -> None:
    alive = {"peak": 61}
    pump = _LogPump("Fn", memory_size=512, peak_rss_mb=lambda: alive["peak"])

    assert pump.filter("START RequestId: r-1 Version: $LATEST") is not None
    alive["peak"] = None  # type: ignore[assignment] - the emulator stopped its runtime (a reset)
    report = pump.filter("REPORT RequestId: r-1\tInit Duration: 0.00 ms\tDuration: 3.00 ms")

    assert report is not None
    assert report.endswith("Memory Size: 512 MB\tMax Memory Used: 61 MB")


def test_a_report_reads_the_runtime_s_current_peak() -> None:
    pump = _LogPump("Fn", memory_size=512, peak_rss_mb=lambda: 70)
    pump.filter("START RequestId: r-2 Version: $LATEST")

    report = pump.filter("REPORT RequestId: r-2")

    assert report is not None
    assert "Max Memory Used: 70 MB" in report


def test_an_invocation_waits_for_its_report_so_an_init_logged_before_it_is_counted() -> None:
    """The emulator can answer before the pump thread has read INIT START: the cold flag would
    then be lost. Waiting for the invocation's REPORT line (printed after INIT START) closes it."""
    import threading
    import time

    pump = _LogPump("Fn", memory_size=512)

    def log_late() -> None:
        time.sleep(0.2)
        pump.filter("[INFO] (rapid) INIT START(type: on-demand, phase: init)")
        pump.filter("REPORT RequestId: r-3")

    before = pump.reports
    threading.Thread(target=log_late).start()
    pump.wait_for_report(before, timeout=5)

    assert pump.inits == 1
    assert pump.reports == before + 1
