"""Small PNG charts for reports: a metric's history with forecast, expected band and anomalies; sparklines;
bar charts. Built on `matplotlib.figure.Figure` with the Agg canvas: no pyplot, no global state touched."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

HISTORY_COLOR = "#1f4e79"
FORECAST_COLOR = "#e07b00"
BAND_COLOR = "#9aa5b1"
ANOMALY_COLOR = "#c62828"
FONT_SIZE = 8


def metric_chart_png(
    history: pd.Series,
    *,
    title: str,
    forecast: pd.DataFrame | None = None,
    anomalies: Sequence[date] = (),
    expected_band: pd.DataFrame | None = None,
    as_percent: bool = False,
    width_px: int = 600,
    height_px: int = 250,
) -> bytes:
    """PNG (bytes) of a metric's daily history, ~`width_px` x `height_px` at 100 dpi.

    Inputs: `history` float values on a date-like index (NaN days are drawn as gaps; a single point as a
    dot); `forecast` optional frame with columns date, forecast, lower, upper (dashed line + shaded
    interval; e.g. ForecastResult.frame); `expected_band` optional frame with columns date, lower, upper
    (grey band of normal values, e.g. from anomaly detection; an 'expected' column is drawn dotted if
    present); `anomalies` days to mark with red dots on the history line (days not in `history` are
    skipped); `as_percent` formats the y axis as percent of 1 (0.08 -> 8 %).
    """
    figure, axes = _figure(width_px, height_px)
    values = _as_daily(history)
    if expected_band is not None and not expected_band.empty:
        band_dates = pd.to_datetime(expected_band["date"])
        axes.fill_between(
            band_dates,
            expected_band["lower"],
            expected_band["upper"],
            color=BAND_COLOR,
            alpha=0.3,
            lw=0,
            label="expected",
        )
        if "expected" in expected_band:
            axes.plot(band_dates, expected_band["expected"], color=BAND_COLOR, lw=1, ls=":")
    if not values.empty:
        axes.plot(values.index, values.to_numpy(), color=HISTORY_COLOR, lw=1.5, label="actual")
        isolated = values.notna() & values.shift(1).isna() & values.shift(-1).isna()
        axes.plot(values.index[isolated], values[isolated], "o", color=HISTORY_COLOR, ms=3)
    if forecast is not None and not forecast.empty:
        forecast_dates = pd.to_datetime(forecast["date"])
        axes.fill_between(
            forecast_dates,
            forecast["lower"],
            forecast["upper"],
            color=FORECAST_COLOR,
            alpha=0.2,
            lw=0,
            label="interval",
        )
        axes.plot(forecast_dates, forecast["forecast"], color=FORECAST_COLOR, lw=1.5, ls="--", label="forecast")
    marked = values.reindex(pd.DatetimeIndex(pd.to_datetime(list(anomalies)))).dropna() if len(anomalies) else None
    if marked is not None and not marked.empty:
        axes.plot(marked.index, marked.to_numpy(), "o", color=ANOMALY_COLOR, ms=5, zorder=5, label="anomaly")
    axes.set_title(title, fontsize=FONT_SIZE + 2, loc="left")
    _format_value_axis(axes, as_percent)
    shown = values.dropna().index
    if shown.empty and (forecast is None or forecast.empty):
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center", fontsize=FONT_SIZE + 2)
        axes.set_xticks([])
        axes.set_yticks([])
        return _png(figure)
    _format_date_axis(axes)
    if len(shown) and (shown.max() - shown.min()).days < 7 and (forecast is None or forecast.empty):
        # Matplotlib would spread a single day over years; show a week around it instead.
        axes.set_xlim(shown.min() - pd.Timedelta(days=3), shown.max() + pd.Timedelta(days=3))
    if len(axes.get_legend_handles_labels()[0]) > 1:
        # Outside the axes (a row above the title), so it never hides data or the title.
        figure.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="outside upper right", ncols=5)
    return _png(figure)


def sparkline_png(
    series: pd.Series | Sequence[float],
    *,
    width_px: int = 120,
    height_px: int = 30,
    color: str = HISTORY_COLOR,
    mark_last: bool = True,
) -> bytes:
    """Tiny PNG line without axes for report tables. `series`: values in order (NaN = gap; a date index is
    used for spacing when present); the last value gets a dot when `mark_last`."""
    figure = Figure(figsize=(width_px / 100, height_px / 100), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.02, 0.1, 0.96, 0.8))
    axes.set_axis_off()
    values = pd.Series(series, dtype=float) if not isinstance(series, pd.Series) else series.astype(float)
    x = np.arange(len(values))
    y = values.to_numpy()
    if len(y):
        axes.plot(x, y, color=color, lw=1)
        finite = np.flatnonzero(np.isfinite(y))
        if mark_last and finite.size:
            axes.plot(x[finite[-1]], y[finite[-1]], "o", color=color, ms=2.5)
        if finite.size and np.ptp(y[finite]) == 0:
            axes.set_ylim(y[finite[0]] - 1, y[finite[0]] + 1)  # flat line in the middle, not at an edge
    return _png(figure)


def bar_chart_png(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    as_percent: bool = False,
    width_px: int = 600,
    height_px: int = 250,
) -> bytes:
    """PNG of a horizontal bar chart (first label on top) with the value printed at each bar's end, e.g. a
    funnel's step conversion (`as_percent`: values are fractions, shown as percent) or persona sizes.
    NaN values get an empty bar labelled 'n/a'."""
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    figure, axes = _figure(width_px, height_px)
    numbers = np.asarray(values, dtype=float)
    positions = np.arange(len(numbers))[::-1]
    axes.barh(positions, np.nan_to_num(numbers), color=HISTORY_COLOR, height=0.6)
    axes.set_yticks(positions, [str(label) for label in labels], fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 2, loc="left")
    _format_value_axis(axes, as_percent, axis="x")
    finite = numbers[np.isfinite(numbers)]
    top = max(float(finite.max()) if finite.size else 0.0, 0.0)
    axes.set_xlim(0, top * 1.15 if top > 0 else 1)
    for position, number in zip(positions, numbers):
        text = "n/a" if not np.isfinite(number) else (f"{number:.1%}" if as_percent else _compact(number))
        axes.text(max(number, 0) if np.isfinite(number) else 0, position, f" {text}", va="center", fontsize=FONT_SIZE)
    return _png(figure)


def calibration_chart_png(
    calibration: pd.DataFrame, title: str = "Calibration", width_px: int = 360, height_px: int = 300
) -> bytes:
    """PNG of a reliability diagram: observed rate against mean predicted probability per bin, one line per
    model, with the diagonal of perfect calibration. `calibration`: columns model, mean_predicted,
    observed_rate (e.g. `churn_model.calibration_table` rows with a model column)."""
    figure, axes = _figure(width_px, height_px)
    axes.plot([0, 1], [0, 1], color=BAND_COLOR, lw=1, ls="--", label="perfect")
    colors = [HISTORY_COLOR, FORECAST_COLOR, ANOMALY_COLOR]
    for index, (model, rows) in enumerate(calibration.groupby("model", sort=True)):
        rows = rows.sort_values("mean_predicted")
        axes.plot(
            rows["mean_predicted"],
            rows["observed_rate"],
            marker="o",
            ms=3,
            lw=1.2,
            color=colors[index % len(colors)],
            label=str(model),
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean predicted", fontsize=FONT_SIZE)
    axes.set_ylabel("observed", fontsize=FONT_SIZE)
    axes.set_title(title, fontsize=FONT_SIZE + 2, loc="left")
    axes.legend(fontsize=FONT_SIZE, frameon=False)
    return _png(figure)


def _figure(width_px: int, height_px: int) -> tuple[Figure, object]:
    figure = Figure(figsize=(width_px / 100, height_px / 100), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attach the Agg canvas explicitly; nothing goes through pyplot
    axes = figure.add_subplot()
    axes.tick_params(labelsize=FONT_SIZE)
    axes.grid(True, alpha=0.3, lw=0.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _as_daily(history: pd.Series) -> pd.Series:
    if history is None or len(history) == 0:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([]))
    values = pd.Series(pd.to_numeric(history, errors="coerce").to_numpy(float), index=pd.to_datetime(history.index))
    values = values[~values.index.duplicated(keep="last")].sort_index()
    # Reindex to every day so a missing day shows as a gap rather than a straight line across it.
    return values.reindex(pd.date_range(values.index.min(), values.index.max(), freq="D"))


def _format_value_axis(axes, as_percent: bool, axis: str = "y") -> None:
    target = axes.yaxis if axis == "y" else axes.xaxis
    if as_percent:
        target.set_major_formatter(PercentFormatter(xmax=1, decimals=None))
    else:
        target.set_major_formatter(FuncFormatter(lambda value, _: _compact(value)))


def _format_date_axis(axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _compact(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.0f}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2g}" if magnitude < 1 else f"{value:.1f}"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
