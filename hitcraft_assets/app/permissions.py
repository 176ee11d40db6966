"""Who may see what: the customer's roles and the one permission matrix the API and the pages both enforce.

Every route of the app declares one permission (`app.auth.allow`); a test checks every role against every route.
Per-user data (user keys, timelines, the churn scores of named users) is its own permission, given only to the
roles that need it (support needs a user's timeline; admins everything).
"""

from __future__ import annotations

from enum import StrEnum

ROLES = ("admin", "product_manager", "prompt_engineer", "operations", "engineer", "enablement")

ROLE_LABELS = {
    "admin": "Admin: everything, user management and settings",
    "product_manager": "Product manager: all metrics, insights, experiments and reports; no user management",
    "prompt_engineer": "Prompt engineer: prompts, AI/render performance, experiments; no per-user data",
    "operations": "Operations / support: anomalies, alerts, health, user timelines for support",
    "engineer": "Engineer: pipeline health, API usage, run status; no per-user data",
    "enablement": "Enablement: read-only reports and the insight library",
}


class Permission(StrEnum):
    METRICS = "metrics"  # daily metrics, segment breakdowns and drill-down, trends and forecasts
    PRODUCT = "product"  # funnels, retention cohorts, feature adoption, personas, churn risk by segment
    PROMPTS = "prompts"  # prompt performance
    ANOMALIES = "anomalies"  # anomaly flags and their root causes
    INSIGHTS = "insights"  # the insight library
    REPORTS = "reports"  # the daily, weekly and monthly reports (HTML, PDF)
    USER_DATA = "user_data"  # per-user data: a user's timeline, the churn score of a named user, at-risk users
    PIPELINE = "pipeline"  # pipeline health: loaded days, quarantine, runs, API usage
    MANAGE_USERS = "manage_users"  # accounts of the app, the audit log
    EXPERIMENTS = "experiments"  # experiment readouts (decisions, SRM, effects per metric and variant): no user keys
    AI_PERFORMANCE = "ai_performance"  # outcomes by model / prompt version / capability / intent, rollouts
    REVENUE = "revenue"  # MRR and its movements, subscriptions by plan (aggregates)


_EVERYONE = frozenset(ROLES)

#: permission -> the roles that hold it (the one table; README "Roles" prints it)
MATRIX: dict[Permission, frozenset[str]] = {
    Permission.METRICS: frozenset({"admin", "product_manager", "prompt_engineer", "operations"}),
    Permission.PRODUCT: frozenset({"admin", "product_manager"}),
    Permission.PROMPTS: frozenset({"admin", "product_manager", "prompt_engineer"}),
    Permission.ANOMALIES: frozenset({"admin", "product_manager", "prompt_engineer", "operations"}),
    Permission.INSIGHTS: frozenset({"admin", "product_manager", "prompt_engineer", "operations", "enablement"}),
    Permission.REPORTS: frozenset({"admin", "product_manager", "enablement"}),
    Permission.USER_DATA: frozenset({"admin", "operations"}),
    Permission.PIPELINE: frozenset({"admin", "operations", "engineer"}),
    Permission.MANAGE_USERS: frozenset({"admin"}),
    Permission.EXPERIMENTS: frozenset({"admin", "product_manager", "prompt_engineer"}),
    Permission.AI_PERFORMANCE: frozenset({"admin", "product_manager", "prompt_engineer"}),
    Permission.REVENUE: frozenset({"admin", "product_manager"}),
}
assert set(MATRIX) == set(Permission) and all(roles <= _EVERYONE for roles in MATRIX.values())


def allowed(role: str, permission: Permission) -> bool:
    return role in MATRIX[permission]


def permissions_of(role: str) -> frozenset[Permission]:
    return frozenset(p for p, roles in MATRIX.items() if role in roles)


def matrix_markdown() -> str:
    """The matrix as a Markdown table (for the README and the admin page)."""
    head = "| permission | " + " | ".join(ROLES) + " |\n|---|" + "---|" * len(ROLES)
    rows = [f"| `{p}` | " + " | ".join("✓" if r in MATRIX[p] else "–" for r in ROLES) + " |" for p in Permission]
    return "\n".join([head, *rows])
