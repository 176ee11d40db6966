"""Helpers shared by the insight generators: date handling, the new-user cohort, weekly traffic, A/B test
recommendations sized for that traffic, and the insight constructor that fills in the confidence score."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date

import pandas as pd

from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import confidence_score, minimum_detectable_effect

AB_TEST_WEEKS = 2


def day_series(values: pd.Series) -> pd.Series:
    """A column of dates (datetime64, normalised to midnight) from dates, strings or timestamps (UTC-aware ones are
    taken as UTC days)."""
    parsed = pd.to_datetime(values, utc=True) if _has_timezone(values) else pd.to_datetime(values)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.dt.normalize()


def _has_timezone(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return True
    sample = values.dropna()
    return not sample.empty and isinstance(sample.iloc[0], str) and ("+" in sample.iloc[0][10:])


def is_empty(frame: pd.DataFrame | None) -> bool:
    """True when a frame is missing or has no rows."""
    return frame is None or frame.empty


def require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise ValueError naming the missing columns of `frame` (called `name` in the message)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")


def prepare_activity(activity: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """user_daily_activity rows up to `as_of`, with activity_date as datetime64 (no look-ahead past as_of)."""
    require(activity, ["activity_date", "user_key", "sessions"], "user_daily_activity")
    frame = activity.assign(activity_date=day_series(activity["activity_date"]))
    return frame[frame["activity_date"] <= pd.Timestamp(as_of)]


def new_user_cohort(
    users: pd.DataFrame, activity: pd.DataFrame, as_of: date, followup_days: int, max_age_days: int | None = None
) -> pd.DataFrame:
    """Users who signed up on or after the first day of `activity` (so their first days are observed) and at least
    `followup_days` days before `as_of` (signup_date + followup_days - 1 <= as_of), optionally at most
    `max_age_days` before it. Input: dim_users (user_key, signup_date, segment columns), activity prepared by
    `prepare_activity`. Output: the users rows with signup_date as datetime64; empty when nothing qualifies."""
    require(users, ["user_key", "signup_date"], "dim_users")
    if activity.empty:
        return users.iloc[0:0].assign(signup_date=pd.Series(dtype="datetime64[ns]"))
    first_day = activity["activity_date"].min()
    frame = users.dropna(subset=["signup_date"]).assign(signup_date=lambda f: day_series(f["signup_date"]))
    last_signup = pd.Timestamp(as_of) - pd.Timedelta(days=followup_days - 1)
    keep = (frame["signup_date"] >= first_day) & (frame["signup_date"] <= last_signup)
    if max_age_days is not None:
        keep &= frame["signup_date"] > pd.Timestamp(as_of) - pd.Timedelta(days=max_age_days)
    return frame[keep]


def weekly_users(activity: pd.DataFrame | None, as_of: date, column: str | None = None) -> int:
    """Distinct users active in the 7 days ending `as_of` (with column > 0 when `column` is given): the traffic an
    A/B test could enrol per week. 0 without activity data."""
    if is_empty(activity) or (column is not None and column not in activity.columns):
        return 0
    frame = prepare_activity(activity, as_of)
    frame = frame[frame["activity_date"] > pd.Timestamp(as_of) - pd.Timedelta(days=7)]
    if column is not None:
        frame = frame[frame[column] > 0]
    return int(frame["user_key"].nunique())


def ab_test(
    action: str, hypothesis: str, metric: str, baseline: float, weekly_traffic: float, weeks: int = AB_TEST_WEEKS
) -> Recommendation:
    """An 'ab_test' recommendation sized for the traffic the data shows: users_per_arm = weekly_traffic * weeks / 2
    and minimum_detectable_effect = the absolute rise of `metric` from `baseline` that this detects (80 % power,
    two-sided 5 %); None for both when there is no traffic or the baseline is degenerate."""
    per_arm = int(weekly_traffic * weeks // 2)
    mde = minimum_detectable_effect(baseline, per_arm) if per_arm >= 2 else math.nan
    return Recommendation(
        kind="ab_test",
        action=action,
        hypothesis=hypothesis,
        metric=metric,
        minimum_detectable_effect=None if math.isnan(mde) else round(float(mde), 4),
        users_per_arm=per_arm if per_arm >= 2 else None,
    )


def ab_numbers(rec: Recommendation) -> dict[str, float]:
    """The numbers an A/B recommendation carries, for `Insight.numbers` (empty when it is not sized)."""
    if rec.users_per_arm is None or rec.minimum_detectable_effect is None:
        return {}
    return {"ab_users_per_arm": float(rec.users_per_arm), "ab_mde": float(rec.minimum_detectable_effect)}


def build_insight(
    *,
    p_value: float | None,
    sample_size: float,
    effect_relative: float | None,
    numbers: dict[str, float],
    evidence_p: float | None = None,
    **fields,
) -> Insight:
    """An Insight with `confidence` from `stats.confidence_score(p, sample_size, effect_relative)`, p = p_value, or
    `evidence_p` for interval-only evidence (e.g. `stats.p_value_from_interval`); numbers are stored as floats (NaN
    dropped). `fields` are the remaining Insight fields."""
    clean = {k: float(v) for k, v in numbers.items() if v is not None and math.isfinite(float(v))}
    return Insight(
        p_value=None if p_value is None else float(p_value),
        sample_size=int(round(sample_size)),
        effect_relative=None if effect_relative is None or not math.isfinite(effect_relative) else effect_relative,
        confidence=confidence_score(p_value if p_value is not None else evidence_p, sample_size, effect_relative),
        numbers=clean,
        **fields,
    )


def label(segment_type: str, segment_value: str) -> str:
    """'role = songwriter' style label of a segment."""
    return f"{segment_type} = {segment_value}"
