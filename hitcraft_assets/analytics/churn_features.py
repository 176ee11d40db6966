"""Churn population, labels and per-user features at a cutoff date, from the `user_daily_activity` and
`dim_users` marts.

Definitions (design document, "Metric definitions"): at a cutoff day c the population is every user with a
core-active day in c-28 .. c-1; a user is churned when they have no core-active day in c .. c+13. Features use
only activity rows with activity_date < c, so a model trained on past cutoffs can score today's users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

# Columns of user_daily_activity summed over every feature window ("frequency" of sessions and key actions).
WINDOW_SUM_COLUMNS = (
    "sessions",
    "minutes",
    "core_events",
    "renders_started",
    "renders_completed",
    "sketches_uploaded",
    "prompts_selected",
)
# Day counts computed over every feature window besides the sums above.
WINDOW_DAY_MEASURES = ("active_days", "core_active_days")
# Measures whose last-week vs prior-week trend is a feature.
TREND_MEASURES = ("sessions", "active_days", "core_events")
# Columns summed over the longest feature window only (less frequent actions).
LONG_WINDOW_SUM_COLUMNS = (
    "renders_failed",
    "production_prompts_selected",
    "mixing_prompts_selected",
    "lyrics_prompts_selected",
    "messages_sent",
    "messages_liked",
    "messages_disliked",
    "feedback_submitted",
    "stems_used",
    "lyrics_generated",
    "lyrics_completed",
    "productions_downloaded",
)
# Lifetime (before the cutoff) flags: feature name -> activity column whose cumulative sum must be > 0.
EVER_FLAGS = {
    "has_uploaded_sketch": "sketches_uploaded",
    "has_completed_render": "renders_completed",
    "has_used_stems": "stems_used",
    "has_used_lyrics": "lyrics_generated",
    "has_subscribed": "subscriptions_started",
}
ACTIVITY_COUNT_COLUMNS = tuple(dict.fromkeys((*WINDOW_SUM_COLUMNS, *LONG_WINDOW_SUM_COLUMNS, *EVER_FLAGS.values())))
UNKNOWN_CATEGORY = "unknown"
ONE_HOT_SEPARATOR = "="  # one-hot feature names are "<dim_users column>=<value>", e.g. "platform=ios"


@dataclass(frozen=True)
class ChurnConfig:
    """Windows of the churn definition and features.

    active_window_days: population = users with a core-active day in the N days before the cutoff.
    horizon_days: label window length; churned = no core-active day in cutoff .. cutoff + N - 1.
    feature_windows: trailing windows (days before the cutoff) for the frequency features; the longest one is
        also used for the less frequent actions (failures, prompt categories, likes, feedback, stems, lyrics).
    trend_window_days: trend = (count in the last N days + 1) / (count in the N days before those + 1).
    categorical_columns: dim_users columns one-hot encoded (null or empty -> "unknown").
    """

    active_window_days: int = 28
    horizon_days: int = 14
    feature_windows: tuple[int, ...] = (7, 14, 28)
    trend_window_days: int = 7
    categorical_columns: tuple[str, ...] = ("role", "experience_level", "acquisition_channel", "platform")

    def __post_init__(self) -> None:
        for name in ("active_window_days", "horizon_days", "trend_window_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"ChurnConfig.{name} must be >= 1, got {getattr(self, name)}")
        windows = self.feature_windows
        if not windows or any(w < 1 for w in windows) or list(windows) != sorted(set(windows)):
            raise ValueError(f"ChurnConfig.feature_windows must be increasing positive ints, got {windows}")

    @property
    def long_window_days(self) -> int:
        return self.feature_windows[-1]


DEFAULT_CONFIG = ChurnConfig()


def to_day(value: date | str | pd.Timestamp) -> pd.Timestamp:
    """A date-like value as a tz-naive midnight Timestamp (the unit of every cutoff)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def prepare_activity(activity: pd.DataFrame) -> pd.DataFrame:
    """Normalise user_daily_activity: activity_date as datetime64 day, user_key str, is_core_active bool,
    count columns float (missing count columns are added as 0). Returns a new frame; the input is untouched."""
    missing = {"activity_date", "user_key", "is_core_active"} - set(activity.columns)
    if missing:
        raise KeyError(f"user_daily_activity is missing columns {sorted(missing)}")
    out = pd.DataFrame(
        {
            "activity_date": _naive_days(activity["activity_date"]),
            "user_key": activity["user_key"].astype(str),
            "is_core_active": _as_bool(activity["is_core_active"]),
        }
    )
    for column in ACTIVITY_COUNT_COLUMNS:
        out[column] = activity[column].astype(float).fillna(0.0) if column in activity else 0.0
    return out


def _naive_days(values: pd.Series) -> pd.Series:
    days = pd.to_datetime(values)
    if isinstance(days.dtype, pd.DatetimeTZDtype):
        days = days.dt.tz_localize(None)
    return days.dt.normalize()


def _as_bool(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values
    # CSV dumps carry "t"/"f" or "True"/"False"; numbers mean > 0.
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["t", "true", "1", "yes"]) | (pd.to_numeric(values, errors="coerce").fillna(0) > 0)


def prepare_users(users: pd.DataFrame, config: ChurnConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Normalise dim_users: user_key str, first_seen_date / signup_date as datetime64 days (NaT if absent),
    categorical columns as str with "unknown" for null/empty. One row per user_key (first kept)."""
    out = pd.DataFrame({"user_key": users["user_key"].astype(str)})
    for column in ("first_seen_date", "signup_date"):
        out[column] = _naive_days(users[column]) if column in users else pd.NaT
    for column in config.categorical_columns:
        out[column] = _clean_category(users[column]) if column in users else UNKNOWN_CATEGORY
    return out.drop_duplicates("user_key").reset_index(drop=True)


def _clean_category(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    # XGBoost refuses feature names with [ ] < and the one-hot separator must stay unambiguous.
    text = text.str.replace(r"[\[\]<>,=\s]+", "_", regex=True)
    return text.where(text != "", UNKNOWN_CATEGORY)


def churn_population(activity: pd.DataFrame, cutoff: date, config: ChurnConfig = DEFAULT_CONFIG) -> pd.Index:
    """Users with a core-active day in the `active_window_days` days before `cutoff` (cutoff excluded).

    activity: user_daily_activity (activity_date, user_key, is_core_active). Returns a sorted Index of user_key.
    """
    return _population(prepare_activity(activity), to_day(cutoff), config)


def _population(act: pd.DataFrame, cutoff: pd.Timestamp, config: ChurnConfig) -> pd.Index:
    start = cutoff - pd.Timedelta(days=config.active_window_days)
    in_window = act["is_core_active"] & (act["activity_date"] >= start) & (act["activity_date"] < cutoff)
    return pd.Index(np.sort(act.loc[in_window, "user_key"].unique()), name="user_key")


def build_churn_labels(activity: pd.DataFrame, cutoff: date, config: ChurnConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Training labels at `cutoff`.

    activity: user_daily_activity (activity_date date, user_key str, is_core_active bool). Must cover the whole
    label window (last activity_date >= cutoff + horizon_days - 1), else ValueError: a truncated window would
    label retained users as churned.
    Returns user_key (str), churned (int 0/1): 1 when a population user has no core-active day in
    cutoff .. cutoff + horizon_days - 1. One row per population user, sorted by user_key.
    """
    act = prepare_activity(activity)
    return _labels(act, to_day(cutoff), config)


def _labels(act: pd.DataFrame, cutoff: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    end = cutoff + pd.Timedelta(days=config.horizon_days)  # exclusive
    last_day = act["activity_date"].max()
    if pd.isna(last_day) or last_day < end - pd.Timedelta(days=1):
        raise ValueError(
            f"label window {cutoff.date()}..{(end - pd.Timedelta(days=1)).date()} is not covered by the activity "
            f"data (last activity_date {None if pd.isna(last_day) else last_day.date()})"
        )
    population = _population(act, cutoff, config)
    future = act["is_core_active"] & (act["activity_date"] >= cutoff) & (act["activity_date"] < end)
    churned = ~population.isin(act.loc[future, "user_key"].unique())
    return pd.DataFrame({"user_key": population.astype(str), "churned": churned.astype(int)})


def build_churn_features(
    activity: pd.DataFrame, users: pd.DataFrame, cutoff: date, config: ChurnConfig = DEFAULT_CONFIG
) -> pd.DataFrame:
    """Per-user churn features at `cutoff`, strictly from activity rows with activity_date < cutoff.

    activity: user_daily_activity (activity_date date, user_key str, is_core_active bool, count columns such as
        sessions, minutes, core_events, renders_*, sketches_uploaded, *_prompts_selected, messages_*,
        feedback_submitted, stems_used, lyrics_*, productions_downloaded, subscriptions_started; missing count
        columns count as 0).
    users: dim_users (user_key; first_seen_date, signup_date dates; the `config.categorical_columns`). Only
        these columns are read; signup counts only when signup_date < cutoff. Users absent from it get
        "unknown" categories.
    Returns one row per population user (see `churn_population`), sorted by user_key: user_key (str) and float
    feature columns:
        days_since_last_active, days_since_last_core_active: cutoff minus the last (core-)active day, >= 1;
        <measure>_<W>d for W in feature_windows: sums of WINDOW_SUM_COLUMNS, active_days, core_active_days;
        <measure>_trend_<T>d for TREND_MEASURES: (last T days + 1) / (the T days before + 1);
        <column>_<L>d (L = longest window) for LONG_WINDOW_SUM_COLUMNS, and render_completion_rate_<L>d =
        renders_completed / renders_started (NaN without renders);
        lifetime_active_days, has_uploaded_sketch, has_completed_render, has_used_stems, has_used_lyrics,
        has_subscribed (0/1 from all activity before the cutoff), signed_up (0/1), tenure_days (cutoff minus the
        earliest of first_seen_date, signup_date and first activity, all before the cutoff);
        "<column>=<value>" one-hot columns (0/1) for the categorical columns, for the values in the population.
    """
    return _features(prepare_activity(activity), prepare_users(users, config), to_day(cutoff), config)


def _features(act: pd.DataFrame, users: pd.DataFrame, cutoff: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    population = _population(act, cutoff, config)
    hist = act[(act["activity_date"] < cutoff) & act["user_key"].isin(population)]
    days_ago = (cutoff - hist["activity_date"]).dt.days
    cols: dict[str, pd.Series] = {}

    by_user = hist.groupby("user_key")
    first_active = by_user["activity_date"].min().reindex(population)
    cols["days_since_last_active"] = (cutoff - by_user["activity_date"].max().reindex(population)).dt.days
    last_core = hist[hist["is_core_active"]].groupby("user_key")["activity_date"].max().reindex(population)
    cols["days_since_last_core_active"] = (cutoff - last_core).dt.days

    for window in config.feature_windows:
        sums = _window_sums(hist, days_ago, 0, window, population)
        for measure in (*WINDOW_SUM_COLUMNS, *WINDOW_DAY_MEASURES):
            cols[f"{measure}_{window}d"] = sums[measure]

    trend = config.trend_window_days
    recent = _window_sums(hist, days_ago, 0, trend, population)
    prior = _window_sums(hist, days_ago, trend, 2 * trend, population)
    for measure in TREND_MEASURES:
        cols[f"{measure}_trend_{trend}d"] = (recent[measure] + 1.0) / (prior[measure] + 1.0)

    long = config.long_window_days
    long_sums = _window_sums(hist, days_ago, 0, long, population)
    for column in LONG_WINDOW_SUM_COLUMNS:
        cols[f"{column}_{long}d"] = long_sums[column]
    started = long_sums["renders_started"]
    cols[f"render_completion_rate_{long}d"] = (long_sums["renders_completed"] / started).where(started > 0)

    lifetime = by_user[list(EVER_FLAGS.values())].sum().reindex(population, fill_value=0.0)
    cols["lifetime_active_days"] = by_user.size().reindex(population, fill_value=0)
    for name, column in EVER_FLAGS.items():
        cols[name] = (lifetime[column] > 0).astype(float)

    dims = users.set_index("user_key").reindex(population)
    signup = dims["signup_date"].where(dims["signup_date"] < cutoff)
    first_seen = dims["first_seen_date"].where(dims["first_seen_date"] < cutoff)
    cols["signed_up"] = signup.notna().astype(float)
    earliest = pd.concat([first_active, first_seen, signup], axis=1).min(axis=1)
    cols["tenure_days"] = (cutoff - earliest).dt.days

    frame = pd.DataFrame(cols, index=population).astype(float)
    one_hot = [_one_hot(dims[column].fillna(UNKNOWN_CATEGORY), column) for column in config.categorical_columns]
    frame = pd.concat([frame, *one_hot], axis=1)
    frame.index.name = "user_key"
    return frame.reset_index()


def _window_sums(hist: pd.DataFrame, days_ago: pd.Series, after: int, upto: int, population: pd.Index) -> pd.DataFrame:
    """Sums over rows with after < days_ago <= upto (days_ago = cutoff - activity_date, >= 1), per user."""
    rows = hist[(days_ago > after) & (days_ago <= upto)]
    grouped = rows.groupby("user_key")
    sums = grouped[list(ACTIVITY_COUNT_COLUMNS)].sum()
    sums["active_days"] = grouped.size()
    sums["core_active_days"] = grouped["is_core_active"].sum()
    return sums.reindex(population, fill_value=0.0).astype(float)


def _one_hot(values: pd.Series, column: str) -> pd.DataFrame:
    dummies = pd.get_dummies(values, dtype=float)
    dummies = dummies.reindex(columns=sorted(dummies.columns))
    dummies.columns = [f"{column}{ONE_HOT_SEPARATOR}{value}" for value in dummies.columns]
    return dummies


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The feature columns of a `build_churn_features` frame (everything except user_key / cutoff / churned)."""
    return [c for c in features.columns if c not in ("user_key", "cutoff", "churned")]


def align_features(features: pd.DataFrame, feature_list: Iterable[str]) -> pd.DataFrame:
    """The feature columns of `features` in the order of `feature_list` (float).

    One-hot columns ("<column>=<value>") absent from `features` are 0: that value does not occur among these
    users. A one-hot column not in `feature_list` (a category unseen in training) is dropped, so such users
    have all-zero columns for that attribute. Any other missing column raises KeyError.
    """
    feature_list = list(feature_list)
    missing = [f for f in feature_list if f not in features.columns and ONE_HOT_SEPARATOR not in f]
    if missing:
        raise KeyError(f"features lack columns the model needs: {missing}")
    return features.reindex(columns=feature_list, fill_value=0.0).astype(float)


def assert_no_future_leakage(
    build_fn: Callable[[pd.DataFrame, pd.DataFrame, date], pd.DataFrame],
    activity: pd.DataFrame,
    users: pd.DataFrame,
    cutoff: date,
    seed: int = 0,
    future_user_columns: tuple[str, ...] = ("last_seen_date", "lifecycle_state_today"),
) -> None:
    """Raise AssertionError when `build_fn(activity, users, cutoff)` depends on data from the cutoff on.

    Calls build_fn on the original inputs and on altered copies where only the future changed: (1) every
    activity row with activity_date >= cutoff removed; (2) those rows scrambled (each column permuted among
    future rows, counts tripled, is_core_active flipped) plus extra future rows for random users; in both,
    dim_users date columns (*_date, *_at) with a value >= cutoff moved 37 days later and the
    `future_user_columns` (derived from all data) permuted. The outputs must be exactly equal (values, dtypes,
    order). The inputs are not modified.
    """
    day = to_day(cutoff)
    rng = np.random.default_rng(seed)
    baseline = build_fn(activity, users, cutoff)
    dates = _naive_days(activity["activity_date"])
    past, future = activity[dates < day], activity[dates >= day]
    variants = {"future rows removed": past, "future rows scrambled": _scramble(future, past, day, rng)}
    for label, altered in variants.items():
        result = build_fn(altered, _shift_future_users(users, day, rng, future_user_columns), cutoff)
        try:
            pd.testing.assert_frame_equal(baseline, result, check_exact=True)
        except AssertionError as exc:
            changed = _changed_columns(baseline, result)
            raise AssertionError(f"features at {day.date()} change when {label}: columns {changed}\n{exc}") from exc


def _scramble(future: pd.DataFrame, past: pd.DataFrame, day: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    scrambled = future.copy()
    for column in scrambled.columns:
        if column != "activity_date":
            scrambled[column] = rng.permutation(scrambled[column].to_numpy())
    for column in scrambled.columns:
        if column == "is_core_active":
            scrambled[column] = ~_as_bool(scrambled[column])
        elif column not in ("activity_date", "user_key") and pd.api.types.is_numeric_dtype(scrambled[column]):
            scrambled[column] = scrambled[column] * 3 + 1
    # Extra future rows (on the cutoff day itself and later) for users that have a past.
    extra = past.sample(n=min(len(past), 200), random_state=int(rng.integers(1 << 31))).copy()
    offsets = pd.to_timedelta(rng.integers(0, 10, size=len(extra)), unit="D")
    extra["activity_date"] = _like(extra["activity_date"], day + offsets)
    return pd.concat([past, scrambled, extra], ignore_index=True)


def _like(template: pd.Series, values: pd.DatetimeIndex) -> pd.Series:
    """Dates in the representation of `template` (datetime64, or date objects / strings as in CSV dumps)."""
    if pd.api.types.is_datetime64_any_dtype(template):
        return pd.Series(values, index=template.index)
    sample = template.iloc[0] if len(template) else None
    if isinstance(sample, str):
        return pd.Series(values.strftime("%Y-%m-%d"), index=template.index)
    return pd.Series(values.date, index=template.index)


def _shift_future_users(
    users: pd.DataFrame, day: pd.Timestamp, rng: np.random.Generator, future_columns: tuple[str, ...]
) -> pd.DataFrame:
    shifted = users.copy()
    for column in shifted.columns:
        if column.endswith(("_date", "_at")) and column not in future_columns:
            shifted[column] = _shift_dates_from(shifted[column], day, pd.Timedelta(days=37))
    for column in future_columns:
        if column in shifted:
            shifted[column] = rng.permutation(shifted[column].to_numpy())
    return shifted


def _shift_dates_from(values: pd.Series, day: pd.Timestamp, delta: pd.Timedelta) -> pd.Series:
    """Values on or after `day` moved by `delta`, keeping the column's representation (datetime64, date, str)."""
    parsed = pd.to_datetime(values, utc=True, format="mixed")
    later = (parsed.dt.tz_localize(None) >= day).to_numpy()
    if not later.any():
        return values
    out = values.copy()
    if pd.api.types.is_datetime64_any_dtype(values):
        out[later] = values[later] + delta
        return out
    moved = (parsed[later] + delta).dt.tz_localize(None)
    sample = values[later].iloc[0]
    new = moved.dt.strftime("%Y-%m-%d") if isinstance(sample, str) and len(sample) == 10 else moved.astype(str)
    if isinstance(sample, date) and not isinstance(sample, str):
        new = moved.dt.date if type(sample) is date else moved.dt.to_pydatetime()
    out = out.astype(object)
    out[later] = new.to_numpy()
    return out


def _changed_columns(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return sorted(set(a.columns) ^ set(b.columns)) or ["<row count or column order>"]
    return [c for c in a.columns if not a[c].reset_index(drop=True).equals(b[c].reset_index(drop=True))]
