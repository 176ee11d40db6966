"""Human names of the daily metrics, shared by the insight texts and the reports."""

from __future__ import annotations

METRIC_LABELS = {
    "new_users": "New users",
    "dau": "Daily active users",
    "wau": "Weekly active users",
    "mau": "Monthly active users",
    "stickiness": "Stickiness (DAU/MAU)",
    "sessions": "Sessions",
    "sessions_per_user": "Sessions per user",
    "median_session_minutes": "Median session duration",
    "mean_session_minutes": "Avg session duration",
    "events_per_session": "Events per session",
    "median_days_between_sessions": "Median days between sessions",
    "productions_completed": "Productions completed",
    "production_completion_rate": "Production completion rate",
    "render_failure_rate": "Render failure rate",
    "sketch_uploads": "Sketch uploads",
    "likes_dislikes_ratio": "Likes/dislikes ratio",
    "feedback_rate": "Feedback rate",
    "return_user_rate": "Return user rate",
    "stems_adoption_rate": "Stem separation adoption",
    "lyrics_adoption_rate": "Lyrics adoption",
}


def metric_label(metric: str | None) -> str:
    """Human name of a metric ('dau' -> 'Daily active users'); unknown names are de-snake-cased."""
    if not metric:
        return ""
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def metric_name(metric: str | None) -> str:
    """The label as written inside a sentence ('render_failure_rate' -> 'render failure rate'; 'DAU' kept)."""
    name = metric_label(metric)
    return name[:1].lower() + name[1:] if name[1:2].islower() else name
