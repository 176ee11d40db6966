"""Unit tests for hitcraft_assets.analytics.forecast on small constructed series."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.analytics.forecast import crosses_target, forecast_metric, forecast_metrics

WEEKDAY = np.array([1.15, 1.1, 1.05, 1.0, 0.95, 0.8, 0.75])


def _series(values, end: str = "2025-06-29") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=pd.date_range(end=end, periods=len(values), freq="D"))


def _weekly(days: int, level: float = 500, growth: float = 1.0, noise: float = 5, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range(end="2025-06-29", periods=days, freq="D")
    values = (level + growth * np.arange(days)) * WEEKDAY[index.day_of_week] + rng.normal(0, noise, days)
    return pd.Series(values, index=index)


def _no_warnings(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    assert [str(w.message) for w in caught] == []
    return result


def test_ets_with_weekly_seasonality_follows_the_pattern():
    history = _weekly(60)
    result = _no_warnings(forecast_metric, history, horizon=30, level=0.9)
    frame = result.frame
    assert result.model == "ETS(A,Ad,A)" and result.transform == "log1p" and result.level == 0.9
    assert list(frame.columns) == ["date", "forecast", "lower", "upper"] and len(frame) == 30
    assert frame["date"].iloc[0] == history.index[-1] + pd.Timedelta(days=1)
    assert (frame["lower"] <= frame["forecast"]).all() and (frame["forecast"] <= frame["upper"]).all()
    truth = (500 + np.arange(60, 67)) * WEEKDAY[frame["date"].iloc[:7].dt.day_of_week]
    assert np.abs(frame["forecast"].iloc[:7].to_numpy() / truth - 1).max() < 0.05
    assert (frame["upper"] - frame["lower"]).iloc[-1] > (frame["upper"] - frame["lower"]).iloc[0]


def test_backtest_reports_errors_against_the_seasonal_naive_benchmark():
    result = forecast_metric(_weekly(60, noise=2), horizon=14)
    backtest = result.backtest
    assert backtest["n_origins"] == 4 and backtest["horizon_days"] == 7
    assert 0 < backtest["mape_pct"] < 3
    assert backtest["smape_pct"] == pytest.approx(backtest["mape_pct"], rel=0.1)
    assert 0 < backtest["mase"] < 1  # better than the in-sample seasonal naive
    assert 0 <= backtest["coverage"] <= 1
    assert backtest["naive_mape_pct"] > backtest["mape_pct"]  # growth defeats "same as last week"


def test_rates_stay_within_zero_and_one():
    rng = np.random.default_rng(1)
    rates = np.clip(0.02 + rng.normal(0, 0.015, 60), 0, 1)
    result = _no_warnings(forecast_metric, _series(rates), bounds="auto")
    assert result.transform == "logit"
    assert (result.frame["lower"] >= 0).all() and (result.frame["upper"] <= 1).all()


def test_small_counts_stay_non_negative():
    counts = np.random.default_rng(2).poisson(0.7, 60)
    result = _no_warnings(forecast_metric, _series(counts))
    assert result.transform == "log1p"
    assert (result.frame["lower"] >= 0).all()


def test_short_series_falls_back_to_seasonal_naive():
    history = _weekly(14)
    result = _no_warnings(forecast_metric, history, horizon=10)
    assert result.model.startswith("seasonal naive (fallback: 14 days")
    expected = np.r_[history.to_numpy()[-7:], history.to_numpy()[-7:-4]]
    assert result.frame["forecast"].to_numpy() == pytest.approx(expected)
    assert (result.frame["lower"] < result.frame["forecast"]).all()
    assert result.backtest["n_origins"] == 0 and np.isnan(result.backtest["mape_pct"])


@pytest.mark.parametrize("value", [0.0, 3.0])
def test_constant_and_all_zero_series_fall_back_quietly(value):
    result = _no_warnings(forecast_metric, _series(np.full(45, value)), horizon=7)
    assert result.model == "seasonal naive (fallback: constant series)"
    assert (result.frame[["forecast", "lower", "upper"]].to_numpy() == value).all()
    assert result.backtest["smape_pct"] == 0


def test_gaps_one_point_and_empty_series_do_not_crash():
    gappy = _weekly(50)
    gappy.iloc[[10, 11, 30]] = np.nan
    assert _no_warnings(forecast_metric, gappy).frame["forecast"].notna().all()
    one = _no_warnings(forecast_metric, _series([42.0]), horizon=3)
    assert one.frame["forecast"].tolist() == [42.0, 42.0, 42.0]
    empty = _no_warnings(forecast_metric, _series([np.nan, np.nan]))
    assert empty.frame.empty and empty.model == "none (no data)"


def test_forecast_metrics_on_the_long_frame():
    days = 40
    index = pd.date_range(end="2025-06-29", periods=days, freq="D")
    dau = _weekly(days).to_numpy()
    failed = np.round(0.1 * dau)
    frame = pd.concat(
        [
            pd.DataFrame({"metric": "dau", "value": dau, "numerator": dau, "denominator": np.nan}),
            pd.DataFrame({"metric": "failure", "value": failed / dau, "numerator": failed, "denominator": dau}),
        ]
    ).assign(metric_date=np.tile(index.date, 2))
    as_of = date(2025, 6, 29)
    result = _no_warnings(forecast_metrics, frame, as_of, horizon=5, start=date(2025, 5, 25))
    assert set(result.forecasts["metric"]) == {"dau", "failure"}
    assert list(result.forecasts.columns) == ["metric", "date", "forecast", "lower", "upper", "model", "level"]
    assert result.forecasts["date"].min() == pd.Timestamp("2025-06-30") and len(result.forecasts) == 10
    backtest = result.backtest.set_index("metric")
    assert backtest.loc["failure", "transform"] == "logit"
    assert backtest.loc["dau", "n_days"] == 36  # `start` drops the first four days


def test_crosses_target():
    forecast = pd.DataFrame(
        {"date": pd.date_range("2025-07-01", periods=4), "forecast": [1.0, 2.0, 3.0, 4.0], "lower": 0.5}
    )
    assert crosses_target(forecast, 2.5, "above") == date(2025, 7, 3)
    assert crosses_target(forecast, 0.5, "below") is None
    assert crosses_target(forecast, 1.0, "below") == date(2025, 7, 1)
    assert crosses_target(forecast, 2.5, "above", column="lower") is None
    assert crosses_target(forecast, 2.5, "above", last_value=3.0) is None  # already above: nothing to cross
    with pytest.raises(ValueError):
        crosses_target(forecast, 1.0, "sideways")


def test_failed_ets_fit_falls_back_to_seasonal_naive(monkeypatch):
    from hitcraft_assets.analytics import forecast as forecast_module

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(forecast_module, "ETSModel", broken)
    history = _weekly(40)
    result = forecast_metric(history, horizon=7)
    assert result.model == "seasonal naive (fallback: ETS failed: singular matrix)"
    assert result.frame["forecast"].to_numpy() == pytest.approx(history.to_numpy()[-7:])
