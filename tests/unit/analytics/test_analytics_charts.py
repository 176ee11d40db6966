"""Unit tests for hitcraft_assets.analytics.charts: PNG bytes, sizes, awkward inputs, no pyplot state."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.charts import bar_chart_png, metric_chart_png, sparkline_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])  # IHDR width, height


def _history(days: int = 60) -> pd.Series:
    index = pd.date_range("2025-05-01", periods=days, freq="D")
    return pd.Series(0.08 + 0.01 * np.sin(np.arange(days)), index=index)


def test_metric_chart_with_forecast_band_and_anomalies():
    history = _history()
    history.iloc[[10, 11, 40]] = np.nan  # gaps
    forecast = pd.DataFrame(
        {"date": pd.date_range("2025-06-30", periods=30), "forecast": 0.08, "lower": 0.06, "upper": 0.10}
    )
    band = pd.DataFrame({"date": history.index, "lower": 0.07, "upper": 0.09, "expected": 0.08})
    png = metric_chart_png(
        history,
        title="Render failure rate",
        forecast=forecast,
        anomalies=[history.index[48].date(), pd.Timestamp("2030-01-01").date()],  # second one is outside
        expected_band=band,
        as_percent=True,
    )
    assert _size(png) == (600, 250)


@pytest.mark.parametrize(
    "history",
    [
        pd.Series([5.0], index=pd.to_datetime(["2025-06-01"])),
        pd.Series([np.nan, 1.0, np.nan, 2.0], index=pd.date_range("2025-06-01", periods=4)),
        pd.Series(dtype=float),
        pd.Series([3.0, 3.0], index=pd.to_datetime(["2025-06-01", "2025-06-20"])),  # days missing in between
    ],
    ids=["one-point", "isolated-points", "empty", "sparse"],
)
def test_metric_chart_handles_awkward_histories(history):
    assert _size(metric_chart_png(history, title="t")) == (600, 250)


@pytest.mark.parametrize(
    "series",
    [[1.0, 2.0, np.nan, 4.0], [7.0], [2.0, 2.0, 2.0], [], _history()],
    ids=["gap", "one-point", "flat", "empty", "dated"],
)
def test_sparkline_is_tiny(series):
    assert _size(sparkline_png(series)) == (120, 30)


def test_bar_chart_with_percent_and_missing_values():
    png = bar_chart_png(["Uploaded", "Rendered", "Downloaded"], [1.0, 0.61, np.nan], "Funnel", as_percent=True)
    assert _size(png) == (600, 250)
    assert _size(bar_chart_png(["producers", "songwriters"], [1200, 800], "Personas", width_px=400)) == (400, 250)
    with pytest.raises(ValueError):
        bar_chart_png(["a"], [1.0, 2.0], "mismatch")


def test_charts_leave_no_pyplot_figures_behind():
    import matplotlib
    from matplotlib import pyplot  # imported here only to observe its global figure registry

    backend = matplotlib.get_backend()
    metric_chart_png(_history(), title="t")
    sparkline_png(_history())
    bar_chart_png(["a"], [1.0], "t")
    assert pyplot.get_fignums() == []
    assert matplotlib.get_backend() == backend


def test_calibration_chart_is_png():
    from hitcraft_assets.analytics.charts import calibration_chart_png

    calibration = pd.DataFrame(
        {"model": ["a", "a", "b", "b"], "mean_predicted": [0.1, 0.8, 0.2, 0.7], "observed_rate": [0.15, 0.7, 0.2, 0.75]}
    )
    png = calibration_chart_png(calibration)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
