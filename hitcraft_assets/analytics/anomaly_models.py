"""Baseline models for anomaly detection: an expected value and a noise scale for every point of many series at once,
each computed only from the trailing history window before that point.

All functions take a 2-D float array ``values`` of shape (n_series, n_points) on a regular grid (one column per day
for daily metrics; missing points are NaN) and return a :class:`Baseline` of arrays of the same shape. Column ``t``
of the result depends only on ``values[:, t - history : t]`` (STL's scale: ``t - 2 * history``), so the result for
a day never changes when later days arrive, and does not depend on how much older data the caller passes.

Candidates (the measurement that chose the default is in ``hitcraft_assets.analytics.anomaly``):

- :func:`seasonal_median_baseline`: centred moving median (one season wide) as the level, same-phase median of the
  detrended values as the seasonal term (shrunk towards flat when it is mostly noise), a Theil-Sen slope of the
  weekly levels as the trend, and a trimmed robust scale of pseudo-forecast errors inside the window. Medians
  everywhere, so a single incident in the history moves neither the expectation nor the interval. Vectorised.
- :func:`stl_baseline`: statsmodels' robust STL on each trailing window, forecast = extrapolated trend + the last
  seasonal value of the same phase; scale = robust spread of its own past forecast errors. One fit per series and
  point (slow).
- :func:`rolling_zscore_baseline`: mean and standard deviation of the previous ``history`` points (the textbook
  baseline; not robust, no seasonality).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation


@dataclass(frozen=True)
class Baseline:
    """Per-point model output, each an array of shape (n_series, n_points).

    expected: the value the model predicts for the point from its trailing history (NaN when not enough history).
    scale: standard deviation of the point's deviation from ``expected`` under the model (NaN likewise).
    history: number of non-missing points in the trailing window (int).
    """

    expected: np.ndarray
    scale: np.ndarray
    history: np.ndarray


def _as_2d(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[None, :] if array.ndim == 1 else array


def _lagged(array: np.ndarray, lag: int) -> np.ndarray:
    """array shifted right by ``lag`` columns (column t holds array[:, t - lag]); NaN where that is before 0."""
    out = np.full_like(array, np.nan)
    if lag < array.shape[1]:
        out[:, lag:] = array[:, : array.shape[1] - lag]
    return out


def _nan_median(stack: np.ndarray, axis: int = -1, min_count: int = 1) -> np.ndarray:
    """Median ignoring NaN (sort-based: much faster than np.nanmedian on many short stacks); NaN where fewer than
    ``min_count`` values are present."""
    ordered = np.sort(np.moveaxis(stack, axis, -1), axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(ordered), axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.maximum(count // 2, 0)[..., None], axis=-1)[..., 0]
    return np.where(count >= max(min_count, 1), (low + high) / 2, np.nan)


def trimmed_scale(stack: np.ndarray, trim: float = 0.1, min_count: int = 7) -> np.ndarray:
    """Robust standard deviation along the last axis: root mean square of the deviations from the median after
    dropping the ``trim`` share with the largest absolute deviation, rescaled to be consistent for normal data.

    More efficient than the MAD (less noise in the interval width, so fewer false alarms at the same threshold)
    while an isolated outlier still cannot widen it. NaN where fewer than ``min_count`` values are present.
    """
    centre = _nan_median(stack)
    deviation = np.sort(np.abs(stack - centre[..., None]), axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(deviation), axis=-1)
    keep = np.maximum(np.floor((1 - trim) * count).astype(int), 1)
    squares = np.cumsum(np.where(np.isnan(deviation), 0.0, deviation**2), axis=-1)
    kept_sum = np.take_along_axis(squares, (keep - 1)[..., None], axis=-1)[..., 0]
    cut = stats.norm.ppf(1 - trim / 2)
    consistency = 1 - 2 * cut * stats.norm.pdf(cut) / (1 - trim)  # E[Z^2 | |Z| < cut]
    return np.where(count >= min_count, np.sqrt(kept_sum / keep / consistency), np.nan)


def trailing_history(values: np.ndarray, history: int) -> np.ndarray:
    """Number of non-missing points in the ``history`` points before each point, shape like ``values``."""
    present = (~np.isnan(_as_2d(values))).astype(float)
    cumulative = np.concatenate([np.zeros((present.shape[0], 1)), np.cumsum(present, axis=1)], axis=1)
    end = np.arange(present.shape[1])
    start = np.maximum(end - history, 0)
    return (cumulative[:, end] - cumulative[:, start]).astype(int)


def centred_moving_median(values: np.ndarray, half_width: int) -> np.ndarray:
    """Median of values[p - half_width .. p + half_width] at each p (NaN if fewer than half of them are present)."""
    array = _as_2d(values)
    width = 2 * half_width + 1
    padded = np.pad(array, ((0, 0), (half_width, half_width)), constant_values=np.nan)
    windows = sliding_window_view(padded, width, axis=1)
    return _nan_median(windows, axis=-1, min_count=half_width + 1)


MODELS = ("seasonal_median", "stl", "rolling_zscore")


def fit_baseline(
    values: np.ndarray,
    model: str = "seasonal_median",
    history: int = 56,
    season: int = 7,
    trend_seasons: int = 4,
    log_rows: np.ndarray | bool = False,
) -> Baseline:
    """Run one of :data:`MODELS` on ``values``, optionally on log1p of some rows.

    ``log_rows``: a bool per series (or one for all). On the log scale weekly swings and trends are multiplicative,
    which fits growing counts (a Saturday dip of 20 % stays 20 % when the level doubles); log1p keeps zeros and small
    values near additive. The expectation is transformed back with expm1, the scale with the delta method
    ((1 + expected) × scale). Rows on the log scale must be non-negative (counts). Other parameters: see the models.
    """
    if model not in MODELS:
        raise ValueError(f"unknown baseline model {model!r}; choose one of {MODELS}")
    x = _as_2d(values)
    use_log = np.broadcast_to(np.asarray(log_rows, dtype=bool), (x.shape[0],))
    transformed = np.where(use_log[:, None], np.log1p(np.maximum(x, 0.0)), x) if use_log.any() else x
    if model == "seasonal_median":
        base = seasonal_median_baseline(transformed, history, season, trend_seasons)
    elif model == "stl":
        base = stl_baseline(transformed, history, season)
    else:
        base = rolling_zscore_baseline(transformed, history)
    if not use_log.any():
        return base
    expected = np.where(use_log[:, None], np.expm1(base.expected), base.expected)
    scale = np.where(use_log[:, None], (1 + expected) * base.scale, base.scale)
    return Baseline(expected=expected, scale=scale, history=base.history)


def seasonal_median_baseline(
    values: np.ndarray, history: int = 56, season: int = 7, trend_seasons: int = 4, shrink_seasonal: bool = True
) -> Baseline:
    """Robust seasonal baseline: level + trend + same-phase seasonal term, all from medians.

    For a target point t and the window of the ``history`` points before it (lag L = 1 .. history):
    - level: M = centred moving median over one season (``2 * (season // 2) + 1`` points); the newest complete one
      is at lag h + 1 (h = season // 2), i.e. the median of the last season.
    - trend: Theil-Sen slope of the levels at lags h + 1, h + 1 + season, ... (non-overlapping seasons), using the
      last ``trend_seasons`` + 1 of them; extrapolated h + 1 points to the target.
    - seasonal term of phase r (= L mod season): median over the window of value - M at that phase (at least 2).
    - scale: robust standard deviation (:func:`trimmed_scale`) of the pseudo-forecast errors
      value[t - L] - (M[t - L - h - 1] + (h + 1) · slope + s_r without lag L) inside the window, i.e. of the same
      forecast made for each point of the history from the data before it.

    - shrink_seasonal: the seasonal terms are pulled towards their mean by max(0, 1 - noise / spread), noise being
      the variance of one term's estimate and spread the variance between the terms (James-Stein), so a pattern
      that is mostly noise (a small segment with 3 weeks of history) is not extrapolated.

    Parameters: values (n_series, n_points) or (n_points,); history: window length in points; season: period in
    points (7 for daily data); trend_seasons: how many past seasons the slope may look back (a short memory so that
    an old ramp does not keep extrapolating); shrink_seasonal: see above.
    """
    x = _as_2d(values)
    half = season // 2
    lead = half + 1  # lag of the newest level whose window is fully inside the history
    level = centred_moving_median(x, half)
    detrended = x - level

    # Seasonal term per phase r, from the lags L ≡ r (mod season) whose centred level lies inside the window; the
    # leave-one-out versions (without lag L) serve the pseudo-forecast errors below, so that a point's own value
    # does not shrink its error. Not centred to sum 0: a one-season median is offset from the mean level by the
    # same amount at every position, and these terms carry that offset back.
    seasonal = np.full((season, *x.shape), np.nan)
    term_counts = np.zeros((season, *x.shape))
    seasonal_without, residuals = {}, []
    for phase in range(season):
        lags = [lag for lag in range(lead, history - half + 1) if lag % season == phase]
        if not lags:
            continue
        stack = np.stack([_lagged(detrended, lag) for lag in lags], axis=-1)
        seasonal[phase] = _nan_median(stack, min_count=2)
        term_counts[phase] = np.sum(~np.isnan(stack), axis=-1)
        residuals.append(stack - seasonal[phase][..., None])
        for i, lag in enumerate(lags):
            seasonal_without[lag] = _nan_median(np.delete(stack, i, axis=-1), min_count=2)
    if shrink_seasonal and residuals:
        # Positive-part James-Stein: keep of the weekly pattern only what stands out from the noise of its own
        # estimate (a median of n values has variance ≈ π/2 · σ² / n), so that a few noisy same-weekday values of a
        # small series do not become a seasonal swing.
        noise = trimmed_scale(np.concatenate(residuals, axis=-1), min_count=season)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            term_noise = np.nanmean(np.pi / 2 * noise**2 / np.where(term_counts > 0, term_counts, np.nan), axis=0)
            centre = np.nanmean(seasonal, axis=0)
            spread = np.nanmean((seasonal - centre) ** 2, axis=0)
            keep = np.clip(1 - term_noise / spread, 0.0, 1.0)
        keep = np.where(np.isnan(keep), 1.0, keep)
        seasonal = centre + keep * (seasonal - centre)
        seasonal_without = {lag: centre + keep * (term - centre) for lag, term in seasonal_without.items()}

    # Trend: Theil-Sen over the season-spaced levels (slope per point).
    level_lags = [lag for lag in range(lead, history - half + 1, season)][: trend_seasons + 1]
    levels = [_lagged(level, lag) for lag in level_lags]
    pair_slopes = [
        (levels[i] - levels[j]) / (level_lags[j] - level_lags[i])
        for i in range(len(levels))
        for j in range(i + 1, len(levels))
    ]
    slope = _nan_median(np.stack(pair_slopes, axis=-1)) if pair_slopes else np.zeros_like(x)
    slope = np.where(np.isnan(slope), 0.0, slope)

    expected = _lagged(level, lead) + lead * slope + seasonal[0]

    # Pseudo-forecast errors: the same forecast for each point of the window, made from its own older level and
    # the seasonal term without that point.
    errors = []
    for lag in range(1, history - 2 * half):
        phase_term = seasonal_without.get(lag, seasonal[lag % season])
        forecast = _lagged(level, lag + lead) + lead * slope + phase_term
        errors.append(_lagged(x, lag) - forecast)
    scale = trimmed_scale(np.stack(errors, axis=-1), min_count=season)
    return Baseline(expected=expected, scale=scale, history=trailing_history(x, history))


def stl_baseline(values: np.ndarray, history: int = 56, season: int = 7, min_history: int = 21) -> Baseline:
    """Robust STL (statsmodels) on each trailing window; forecast = trend extrapolated one point with the slope of its
    last season + the seasonal component one season back. Scale: :func:`trimmed_scale` of this model's own one-step
    forecast errors over the previous ``history`` points (at least ``season`` of them), because STL's in-sample
    residuals are far smaller than its forecast errors. The scale of a point therefore depends on up to
    2 × ``history`` points before it.

    Missing points inside a window are linearly interpolated; windows with fewer than ``min_history`` present points
    (or fewer than two seasons) give NaN. Parameters as in :func:`seasonal_median_baseline`. One STL fit per series
    and point: use it on the few top-level series, not on thousands of segment series.
    """
    from statsmodels.tsa.seasonal import STL

    x = _as_2d(values)
    expected = np.full_like(x, np.nan)
    counts = trailing_history(x, history)
    minimum = max(min_history, 2 * season + 1)
    for row in range(x.shape[0]):
        for t in range(x.shape[1]):
            if counts[row, t] < minimum:
                continue
            window = x[row, max(0, t - history) : t]
            window = window[int(np.argmax(~np.isnan(window))) :]
            if np.isnan(window).any():
                idx = np.arange(window.size)
                ok = ~np.isnan(window)
                window = np.interp(idx, idx[ok], window[ok])
            fit = STL(window, period=season, robust=True).fit()
            slope = (fit.trend[-1] - fit.trend[-1 - season]) / season
            expected[row, t] = fit.trend[-1] + slope + fit.seasonal[-season]
    errors = np.pad(x - expected, ((0, 0), (history, 0)), constant_values=np.nan)
    previous_errors = sliding_window_view(errors, history, axis=1)[:, : x.shape[1]]
    scale = trimmed_scale(previous_errors, min_count=season)
    return Baseline(expected=expected, scale=scale, history=counts)


def rolling_zscore_baseline(values: np.ndarray, history: int = 28) -> Baseline:
    """Mean and standard deviation (ddof=1) of the previous ``history`` points (NaN-aware; NaN if fewer than 3)."""
    x = _as_2d(values)
    padded = np.pad(x, ((0, 0), (history, 0)), constant_values=np.nan)
    windows = sliding_window_view(padded, history, axis=1)[:, : x.shape[1]]
    counts = np.sum(~np.isnan(windows), axis=-1)
    safe = np.where(counts[..., None] > 0, windows, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows with < 2 points; masked below
        mean = np.where(counts >= 3, np.nanmean(safe, axis=-1), np.nan)
        std = np.where(counts >= 3, np.nanstd(safe, axis=-1, ddof=1), np.nan)
    return Baseline(expected=mean, scale=std, history=counts.astype(int))
