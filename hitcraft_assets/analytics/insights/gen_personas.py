"""Generators 7 and 8: persona shifts week over week (ml.persona_summary, ml.persona_migration) and forecasts that
cross a target (ml.metric_forecasts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd

from hitcraft_assets.analytics import metric_catalogue
from hitcraft_assets.analytics.forecast import crosses_target
from hitcraft_assets.analytics.insights import text
from hitcraft_assets.analytics.insights.base import build_insight, day_series, is_empty, require
from hitcraft_assets.analytics.insights.gen_metrics import metric_value
from hitcraft_assets.analytics.insights.model import Insight, Recommendation
from hitcraft_assets.analytics.insights.stats import compare_proportions, p_value_from_interval
from hitcraft_assets.analytics.metric_catalogue import metric_label, metric_name

INACTIVE = "inactive"
NEW = "new"


def _complete_weeks(frame: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    frame = frame.assign(week_start=day_series(frame["week_start"]))
    frame = frame[frame["week_start"] + pd.Timedelta(days=6) <= pd.Timestamp(as_of)]
    return frame, (frame["week_start"].max() if not frame.empty else None)


def persona_shift_insights(
    summary: pd.DataFrame | None, migration: pd.DataFrame | None, as_of: date, min_users: int = 30
) -> list[Insight]:
    """Week-over-week persona shifts, from the latest persona week that has ended by `as_of` vs the week before.

    Inputs: ml.persona_summary (week_start, persona, users); ml.persona_migration (week_start, from_persona,
    to_persona, users), where from = persona at the week start, to = a week later, 'new' = not profiled before,
    'inactive' = no longer active. Candidates, each a two-proportion z-test of this week vs last week:
    - 'persona_share:<persona>' (type 'trend'): the persona's share of profiled users;
    - 'persona_churn:<persona>' (type 'risk' if up, 'success' if down): share of the persona's users moving to
      'inactive';
    - 'persona_activation:<persona>' (type 'opportunity' if up, 'trend' if down): share of new users landing in
      the persona.
    Personas are re-clustered every week: when the two weeks do not have the same set of persona names, the weeks
    are not comparable and nothing is reported (a changed k moves users between personas without any change in
    behaviour). Personas with fewer than `min_users` users in either week are skipped.
    Impact: |change in share| x this week's users.
    """
    insights: list[Insight] = []
    if not is_empty(summary):
        require(summary, ["week_start", "persona", "users"], "persona_summary")
        weeks, latest = _complete_weeks(summary, as_of)
        if latest is not None:
            now, before = (
                weeks[weeks["week_start"] == latest],
                weeks[weeks["week_start"] == latest - pd.Timedelta(7, "D")],
            )
            if set(now["persona"]) != set(before["persona"]):
                now = now.iloc[0:0]  # re-clustered into different personas: shares are not comparable
            for _, row in now.iterrows():
                prev = before[before["persona"] == row["persona"]]
                if prev.empty:
                    continue
                counts = (row["users"], now["users"].sum(), prev["users"].iloc[0], before["users"].sum())
                insights += _shift("persona_share", row["persona"], counts, latest.date(), as_of, min_users)
    if not is_empty(migration):
        require(migration, ["week_start", "from_persona", "to_persona", "users"], "persona_migration")
        weeks, latest = _complete_weeks(migration, as_of)
        if latest is not None:
            now = weeks[weeks["week_start"] == latest]
            before = weeks[weeks["week_start"] == latest - pd.Timedelta(days=7)]
            if _personas(now) != _personas(before):
                return insights
            for kind, match, group in (("persona_churn", "to_persona", "from_persona"),
                                       ("persona_activation", "from_persona", "to_persona")):  # fmt: skip
                insights += _migration(kind, now, before, match, group, latest.date(), as_of, min_users)
    return insights


def _personas(migration: pd.DataFrame) -> set[str]:
    return (set(migration["from_persona"]) | set(migration["to_persona"])) - {NEW, INACTIVE}


def _migration(kind, now, before, match_column, group_column, week: date, as_of: date, min_users: int) -> list:
    target = INACTIVE if kind == "persona_churn" else NEW
    out = []
    if kind == "persona_churn":
        totals_now, totals_before = (
            now.groupby("from_persona")["users"].sum(),
            before.groupby("from_persona")["users"].sum(),
        )
        hits_now = now[now["to_persona"] == target].set_index("from_persona")["users"]
        hits_before = before[before["to_persona"] == target].set_index("from_persona")["users"]
        names = [p for p in totals_now.index if p in totals_before.index and p != NEW]
    else:
        total_now = now.loc[now["from_persona"] == target, "users"].sum()
        total_before = before.loc[before["from_persona"] == target, "users"].sum()
        hits_now = now[now["from_persona"] == target].set_index("to_persona")["users"]
        hits_before = before[before["from_persona"] == target].set_index("to_persona")["users"]
        totals_now = pd.Series(total_now, index=hits_now.index)
        totals_before = pd.Series(total_before, index=hits_now.index)
        names = [p for p in hits_now.index if p in hits_before.index]
    for name in names:
        counts = (hits_now.get(name, 0), totals_now[name], hits_before.get(name, 0), totals_before[name])
        out += _shift(kind, name, counts, week, as_of, min_users)
    return out


def _shift(kind: str, persona: str, counts, week: date, as_of: date, min_users: int) -> list[Insight]:
    k1, n1, k0, n0 = (float(c) for c in counts)
    if n1 < min_users or n0 < min_users or (kind == "persona_share" and min(k1, k0) < min_users):
        return []
    cmp = compare_proportions(k1, n1, k0, n0)
    up = cmp.difference > 0
    what = {
        "persona_share": (f"share of profiled users in the '{persona}' persona", "trend", "trend"),
        "persona_churn": (f"share of '{persona}' users who became inactive a week later", "risk", "success"),
        "persona_activation": (f"share of new users who became '{persona}' a week later", "opportunity", "trend"),
    }[kind]
    numbers = {"rate": cmp.rate1, "rate_before": cmp.rate2, "diff": cmp.difference, "n": n1, "n_before": n0,
               "p_value": cmp.p_value, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high, "ci_level": 0.95}  # fmt: skip
    statement = (
        f"The {what[0]} was {text.pct(cmp.rate1)} in the persona week of {week} ({text.count(n1)} users) vs "
        f"{text.pct(cmp.rate2)} the week before ({text.count(n0)} users): {text.pp(cmp.difference)} (95% CI "
        f"{text.pp(cmp.ci_low)} to {text.pp(cmp.ci_high)}; two-proportion z-test, {text.p_text(cmp.p_value)})."
    )
    if kind == "persona_churn":
        rec = Recommendation(kind="campaign", action=f"Re-engage '{persona}' users with content matched to their use.")
    elif kind == "persona_activation":
        rec = Recommendation(kind="onboarding", action=f"Study the first week of new users who become '{persona}'.")
    else:
        rec = Recommendation(kind="investigate", action=f"Check what drives the shift of the '{persona}' persona.")
    return [
        build_insight(
            key=f"{kind}:{persona}",
            insight_type=what[1] if up else what[2],
            generator="persona_shift_insights",
            as_of=as_of,
            title=f"{what[0][0].upper()}{what[0][1:]}: {text.pct(cmp.rate1)} ({text.pp(cmp.difference)} w/w)",
            statement=statement,
            metric=kind,
            segment_type="persona",
            segment_value=persona,
            window_start=week,
            window_end=week + timedelta(days=6),
            baseline_start=week - timedelta(days=7),
            baseline_end=week - timedelta(days=1),
            sample_size=n1,
            sample_unit="users",
            test="two-proportion z-test (score), Newcombe interval",
            **cmp.evidence(),
            impact=abs(cmp.difference) * n1,
            impact_unit="users",
            numbers=numbers,
            recommendations=(rec,),
        )
    ]


def forecast_target_insights(
    forecasts: pd.DataFrame | None,
    daily_metrics: pd.DataFrame | None,
    as_of: date,
    targets: Mapping[str, tuple[float, str]] | None = None,
) -> list[Insight]:
    """Forecasts that cross a target (key 'forecast_target:<metric>', type 'trend').

    Inputs: ml.metric_forecasts (as_of, metric, forecast_date, forecast, lower_bound, upper_bound, level), the run
    of `as_of`; marts.daily_metrics (metric_date, metric, value) for the last observed value; targets: metric ->
    (value, 'above' | 'below'), e.g. {'dau': (750, 'above')}; none by default (no candidates).
    A metric whose point forecast reaches the target (`forecast.crosses_target`; nothing if the last observed value
    is already past it) is a candidate. Evidence is an interval, no p-value: effect = bound - target on the first day
    the pessimistic bound (lower for 'above', upper for 'below') also crosses, interval (lower - target,
    upper - target) that day; if the bound never crosses, the point-crossing day is used and the interval includes
    0, so the ranking rejects it. Impact: |target - last value| in the metric's units.
    """
    if not targets or is_empty(forecasts):
        return []
    require(forecasts, ["as_of", "metric", "forecast_date", "forecast", "lower_bound", "upper_bound"], "forecasts")
    run = forecasts[day_series(forecasts["as_of"]) == pd.Timestamp(as_of)]
    insights = []
    for metric, (target, direction) in targets.items():
        rows = run[run["metric"] == metric].sort_values("forecast_date")
        if rows.empty:
            continue
        frame = pd.DataFrame(
            {
                "date": day_series(rows["forecast_date"]).to_numpy(),
                "forecast": rows["forecast"].to_numpy(),
                "lower": rows["lower_bound"].to_numpy(),
                "upper": rows["upper_bound"].to_numpy(),
            }
        )
        last, history_days = _history(daily_metrics, metric, as_of)
        point = crosses_target(frame, target, direction, "forecast", last_value=last)
        if point is None:
            continue
        bound_column = "lower" if direction == "above" else "upper"
        bound = crosses_target(frame, target, direction, bound_column, last_value=last)
        day = bound or point
        row = frame[frame["date"] == pd.Timestamp(day)].iloc[0]
        level = float(rows["level"].iloc[0]) if "level" in rows else 0.9
        insights.append(_forecast(metric, target, direction, row, point, bound, last, history_days, level, as_of))
    return insights


def _history(daily_metrics: pd.DataFrame | None, metric: str, as_of: date) -> tuple[float | None, int]:
    """(last observed value, number of observed days) of a metric up to as_of."""
    if is_empty(daily_metrics):
        return None, 0
    rows = daily_metrics[daily_metrics["metric"] == metric]
    rows = rows[day_series(rows["metric_date"]) <= pd.Timestamp(as_of)].dropna(subset=["value"])
    return (None, 0) if rows.empty else (float(rows.sort_values("metric_date")["value"].iloc[-1]), len(rows))


def _forecast(metric, target, direction, row, point: date, bound: date | None, last, history_days, level, as_of):
    bound_column = "lower" if direction == "above" else "upper"
    effect = float(row[bound_column if bound is not None else "forecast"] - target)
    low, high = float(row["lower"] - target), float(row["upper"] - target)
    numbers = {"target": target, "forecast": row["forecast"], "lower": row["lower"], "upper": row["upper"],
               "level": level, "horizon_days": (point - as_of).days}  # fmt: skip
    statement = (
        f"{metric_label(metric)} is forecast to go {direction} {metric_value(metric, target)} on {point}, "
        f"{(point - as_of).days} days after {as_of}."
    )
    if bound is not None:
        statement += f" Even the pessimistic {text.pct(level, 0)} bound crosses it, on {bound}"
    else:
        statement += f" The {text.pct(level, 0)} interval still includes the target"
    statement += (
        f" (forecast {metric_value(metric, row['forecast'])}, interval {metric_value(metric, row['lower'])} to "
        f"{metric_value(metric, row['upper'])} on {row['date'].date()})."
    )
    if last is not None:
        numbers["last_value"] = last
        statement += f" Last observed value: {metric_value(metric, last)}."
    evidence_p = p_value_from_interval(float(row["forecast"] - target), low, high, level)
    return build_insight(
        key=f"forecast_target:{metric}",
        insight_type="trend",
        generator="forecast_target_insights",
        as_of=as_of,
        title=f"{metric_label(metric)} forecast to go {direction} {metric_value(metric, target)} by {point}",
        statement=statement,
        metric=metric,
        segment_type=None,
        segment_value=None,
        window_start=as_of + timedelta(days=1),
        window_end=point,
        baseline_start=None,
        baseline_end=None,
        sample_size=history_days,
        sample_unit="days of history",
        test=f"forecast {text.pct(level, 0)} prediction interval",
        p_value=None,
        effect=effect,
        effect_relative=(effect / target) if target else None,
        ci_low=low,
        ci_high=high,
        impact=abs(target - last) if last is not None else abs(effect),
        impact_unit=metric_catalogue.metric_unit(metric, "units"),
        numbers=numbers,
        evidence_p=evidence_p,
        recommendations=(
            Recommendation(
                kind="investigate", action=f"Plan for {metric_name(metric)} {direction} {metric_value(metric, target)}."
            ),
        ),
    )
