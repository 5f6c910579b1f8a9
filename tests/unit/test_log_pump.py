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
