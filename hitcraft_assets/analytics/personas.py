"""Behavioural personas: per-user behaviour profiles, KMeans personas with rule-based names, and persona migration
between weeks. Size, value and value potential per persona are in persona_value.py.

Typical weekly use (the asset wiring):
    profile = behaviour_profile(user_daily_activity, dim_users, as_of=week_start)
    model = fit_personas(profile)                       # persist it (pickle) for next week
    current = assign_personas(model, profile)
    summary = persona_summary(profile, current)         # persona_value.py
    potential = value_potential(profile, current)       # persona_value.py
Migration must be measured against ONE fixed model: cluster ids and even names of two independent fits are not
comparable (a boundary that moves renames users without any change in behaviour). So the asset should use the
model persisted last week for both weeks:
    previous = assign_personas(last_model, last_profile)     # or last week's stored assignments of last_model
    current = assign_personas(last_model, profile)
    migration = persona_migration(previous, current)
and fit a new model only for this week's descriptive persona table (and to serve as next week's reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

# profile column -> user_daily_activity column summed over the window
SUMMED_COLUMNS: dict[str, str] = {
    "sessions": "sessions",
    "minutes": "minutes",
    "productions_completed": "renders_completed",
    "renders_started": "renders_started",
    "sketches_uploaded": "sketches_uploaded",
    "prompts_selected": "prompts_selected",
    "lyrics_generated": "lyrics_generated",
    "lyrics_completed": "lyrics_completed",
    "messages_sent": "messages_sent",
    "messages_liked": "messages_liked",
    "messages_disliked": "messages_disliked",
    "stems_used": "stems_used",
    "productions_downloaded": "productions_downloaded",
    "subscriptions_started": "subscriptions_started",
}
# action mix: each task type is represented by its defining event
ACTION_COLUMNS = {
    "production": "renders_started",
    "lyrics": "lyrics_generated",
    "chat": "messages_sent",
    "stems": "stems_used",
}
# Engagement (3), output per task type (4) and the task mix (4): production is not over-weighted by its several
# correlated counts (sketches, downloads), so lyric, chat and stem behaviour can form clusters of their own.
CLUSTER_FEATURES: tuple[str, ...] = (
    *("active_days", "sessions", "minutes", "productions_completed", "lyrics_generated", "messages_sent"),
    *("stems_used", "production_action_share", "lyrics_action_share", "chat_action_share", "stems_action_share"),
)
# columns the naming rules read (cluster_statistics)
_NAMING_COLUMNS = (
    *("active_days", "sessions", "productions_completed", "lyrics_completed", "messages_sent", "stems_used"),
    *("subscription_started", *(f"{task}_action_share" for task in ACTION_COLUMNS)),
)
# naming threshold on cluster z-scores (cluster mean of the transformed column vs all users, in SDs)
ABOVE_Z = 0.5
MIX_NAMES = {
    "production": "casual producer",
    "lyrics": "lyric writer",
    "chat": "chat explorer",
    "stems": "stem remixer",
}


def _to_day(values: pd.Series) -> pd.Series:
    """Dates, datetimes or ISO strings -> tz-naive midnight timestamps (NaT stays NaT)."""
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    return parsed.dt.tz_convert(None).dt.normalize()


def _require(frame: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def behaviour_profile(activity: pd.DataFrame, users: pd.DataFrame, as_of: date, window_days: int = 28) -> pd.DataFrame:
    """One row of behaviour per user active in the window [as_of - window_days, as_of - 1] (UTC days).

    Inputs:
      activity: user_daily_activity rows: activity_date (date/datetime/ISO str), user_key (str) and the int counts
        sessions, minutes (float), renders_started, renders_completed, sketches_uploaded, prompts_selected,
        lyrics_generated, lyrics_completed, messages_sent, messages_liked, messages_disliked, stems_used,
        productions_downloaded, subscriptions_started, plus any `<category>_prompts_selected` columns.
      users: dim_users with user_key and optionally first_seen_date and signup_date (dates, nullable).
      as_of: first day AFTER the window (the profile uses no data from as_of on).
      window_days: window length in days.
    Output (one row per user with an activity row in the window, sorted by user_key):
      user_key; active_days (days with any event); days_since_last_active (as_of - last active day, >= 1);
      sums over the window named as SUMMED_COLUMNS keys (productions_completed = renders completed);
      subscription_started (1 if a Subscription Started fell in the window, else 0);
      <task>_action_share for production/lyrics/chat/stems: the task's defining event (renders_started,
        lyrics_generated, messages_sent, stems_used) over the sum of the four, 0 when the user did none;
      <category>_prompt_share: <category>_prompts_selected / prompts_selected (0 without prompts);
      tenure_days: as_of - first seen day, where first seen is the earliest of first_seen_date, signup_date and
        the user's first active day in the window (the fallback for users missing from `users`).
    """
    prompt_columns = sorted(c for c in activity.columns if c.endswith("_prompts_selected"))
    _require(activity, ["activity_date", "user_key", *SUMMED_COLUMNS.values()], "activity")
    _require(users, ["user_key"], "users")
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=window_days)
    days = _to_day(activity["activity_date"])
    window = activity.loc[(days >= start) & (days < end)].assign(activity_date=days)

    grouped = window.groupby("user_key", sort=True)
    profile = pd.DataFrame(
        {
            "active_days": grouped["activity_date"].nunique(),
            "days_since_last_active": (end - grouped["activity_date"].max()).dt.days,
            **{name: grouped[column].sum() for name, column in SUMMED_COLUMNS.items()},
        }
    )
    first_active = grouped["activity_date"].min()
    profile = profile.astype({c: float for c in SUMMED_COLUMNS}).astype({"active_days": int})
    profile["subscription_started"] = (profile["subscriptions_started"] > 0).astype(int)

    actions = profile[list(ACTION_COLUMNS.values())].sum(axis=1)
    for task, column in ACTION_COLUMNS.items():
        profile[f"{task}_action_share"] = (profile[column] / actions.where(actions > 0)).fillna(0.0)
    for column in prompt_columns:
        category = column.removesuffix("_prompts_selected")
        selected = grouped[column].sum().astype(float)
        profile[f"{category}_prompt_share"] = (selected / profile["prompts_selected"].where(lambda s: s > 0)).fillna(
            0.0
        )

    firsts = users.drop_duplicates("user_key").set_index("user_key")
    candidates = [first_active]
    for column in ("first_seen_date", "signup_date"):
        if column in firsts.columns:
            candidates.append(_to_day(firsts[column]).reindex(profile.index))
    first_seen = pd.concat(candidates, axis=1).min(axis=1)
    profile["tenure_days"] = (end - first_seen).dt.days.astype(int)
    return profile.rename_axis("user_key").reset_index()


def _transform(profile: pd.DataFrame, features) -> np.ndarray:
    """log1p for counts (heavy-tailed), shares (columns ending in _share) as they are."""
    columns = []
    for feature in features:
        values = profile[feature].astype(float).fillna(0.0).to_numpy()
        columns.append(values if feature.endswith("_share") else np.log1p(np.clip(values, 0.0, None)))
    return np.column_stack(columns)


@dataclass(frozen=True)
class PersonaModel:
    """A fitted persona model. Apply it to any week's profile with assign_personas.

    features: profile columns used (counts log1p-transformed, *_share as is), then standardised by `scaler`.
    centers: (k, len(features)) cluster centres in the standardised space; row i is cluster i, clusters
      ordered by size at fit time (0 = largest).
    names: cluster id -> unique persona name.
    criteria: one row per k tried: k, silhouette (on a sample), inertia, min_cluster_share, eligible
      (min_cluster_share >= the minimum), chosen (bool).
    summary: one row per persona at fit time: cluster, persona, users, share, the cluster means of the naming
      columns (raw units) and z_<column> (cluster mean of the transformed column minus the all-user mean, in
      all-user SDs) used by the naming rules.
    """

    features: tuple[str, ...]
    scaler: StandardScaler
    centers: np.ndarray
    names: dict[int, str]
    criteria: pd.DataFrame
    summary: pd.DataFrame

    @property
    def k(self) -> int:
        return len(self.centers)


def fit_personas(
    profile: pd.DataFrame,
    k_range=range(3, 9),
    random_state: int = 0,
    features=CLUSTER_FEATURES,
    silhouette_sample: int = 2000,
    min_cluster_share: float = 0.03,
) -> PersonaModel:
    """Cluster users into personas with KMeans on standardised log1p counts and action shares.

    Why KMeans: its centres are directly readable (mean behaviour of a persona) for the naming rules and it is
    fast and deterministic with a fixed random_state. A full-covariance GaussianMixture was tried on the 60-day
    sample: its BIC was lowest at k=9 (outside 3..8) and not monotone in k, so it gave no readable choice.
    k criterion: for every k in k_range, KMeans(n_init=4) is fitted and scored with the silhouette on a random
    sample of `silhouette_sample` users (same sample seed for every k); k with the best silhouette among those
    whose smallest cluster holds at least `min_cluster_share` of users wins (if none qualifies, the best
    silhouette overall). All values are in model.criteria.
    Determinism: rows are sorted by user_key before fitting, so equal input gives the same model whatever the
    row order; clusters are renumbered by size (0 = largest).

    Inputs: profile from behaviour_profile (user_key, every column in `features` and the naming columns:
    active_days, sessions, productions_completed, lyrics_completed, messages_sent, stems_used,
    subscription_started, <task>_action_share); a k is tried only if k < number of users. Names: name_clusters.
    """
    profile = profile.sort_values("user_key", kind="stable").reset_index(drop=True)
    features = tuple(features)
    _require(profile, ["user_key", *features, *_NAMING_COLUMNS], "profile")
    n = len(profile)
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise ValueError(f"no k in {list(k_range)} can be fitted on {n} users")
    scaler = StandardScaler().fit(_transform(profile, features))
    x = scaler.transform(_transform(profile, features))
    rows, fits = [], {}
    for k in ks:
        # one thread: on a shared, busy machine OpenMP/BLAS thread pools spin and run ~10x slower
        # (5k synthetic users: 10 s vs 0.8 s measured); the problem is small enough for one core
        with threadpool_limits(limits=1):
            kmeans = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(x)
            labels = kmeans.labels_
            sample = min(n, silhouette_sample)
            silhouette = silhouette_score(x, labels, sample_size=sample, random_state=random_state)
        min_share = np.bincount(labels, minlength=k).min() / n
        row = {"k": k, "silhouette": float(silhouette), "inertia": float(kmeans.inertia_)}
        rows.append(row | {"min_cluster_share": float(min_share), "eligible": bool(min_share >= min_cluster_share)})
        fits[k] = kmeans
    criteria = pd.DataFrame(rows)
    pool = criteria[criteria["eligible"]] if criteria["eligible"].any() else criteria
    best_k = int(pool.sort_values(["silhouette", "k"], ascending=[False, True])["k"].iloc[0])
    criteria["chosen"] = criteria["k"] == best_k

    kmeans = fits[best_k]
    sizes = np.bincount(kmeans.labels_, minlength=best_k)
    # order by size desc, then by first centre coordinate for ties: stable ids for the same input
    order = sorted(range(best_k), key=lambda c: (-sizes[c], tuple(kmeans.cluster_centers_[c])))
    relabel = np.empty(best_k, dtype=int)
    relabel[order] = np.arange(best_k)
    labels = relabel[kmeans.labels_]
    centers = kmeans.cluster_centers_[order]

    stats = cluster_statistics(profile, labels)
    names = name_clusters(stats)
    summary = stats.assign(persona=stats["cluster"].map(names))
    summary = summary[["cluster", "persona", *[c for c in summary.columns if c not in ("cluster", "persona")]]]
    return PersonaModel(features, scaler, centers, names, criteria, summary)


def cluster_statistics(profile: pd.DataFrame, labels) -> pd.DataFrame:
    """Per-cluster statistics the naming rules read.

    Inputs: profile (columns of _NAMING_COLUMNS: active_days, sessions, productions_completed, lyrics_completed,
    messages_sent, stems_used, subscription_started, <task>_action_share), labels (int array, one per row).
    Output: one row per cluster: cluster, users, share, median_active_days, mean of every naming column (raw
    units, same names) and z_<column> = (cluster mean of the transformed column - all-user mean) / all-user SD,
    counts transformed with log1p, shares as they are (0 when the column is constant).
    """
    transformed = pd.DataFrame(_transform(profile, _NAMING_COLUMNS), columns=list(_NAMING_COLUMNS))
    sd = transformed.std(ddof=0).replace(0.0, np.nan)
    z = ((transformed.groupby(np.asarray(labels)).mean() - transformed.mean()) / sd).fillna(0.0).add_prefix("z_")
    raw = profile[list(_NAMING_COLUMNS)].astype(float).groupby(np.asarray(labels))
    stats = pd.DataFrame(
        {
            "users": raw.size(),
            "share": raw.size() / len(profile),
            "median_active_days": raw["active_days"].median(),
        }
    )
    stats = stats.join(raw.mean()).join(z)
    return stats.rename_axis("cluster").reset_index()


def _top_mix(row: pd.Series) -> tuple[str, float]:
    """The task whose action share is most over-represented in the cluster (largest z), with that z."""
    mix = {task: float(row[f"z_{task}_action_share"]) for task in ACTION_COLUMNS}
    top = max(mix, key=lambda task: (mix[task], task))
    return top, mix[top]


def name_cluster(row: pd.Series) -> str:
    """Persona name for one row of cluster_statistics. "top task" = the task whose action share is most
    over-represented vs all users (largest z of the <task>_action_share columns). Rules, first match wins:

    1. "one-time tryer": median active days <= 1 and z_productions_completed < 0 (below-average output).
    2. "stem remixer" / "lyric writer": top task stems / lyrics with z >= 0.5 (a specialist, however productive).
    3. "power producer": z_productions_completed >= 0.5 and z_active_days >= 0.5.
    4. "chat explorer" / "casual producer": top task chat / production with z >= 0.5.
    5. "casual producer" if at least 1 production per user.
    6. "engaged all-rounder" if z_active_days >= 0.5, else "light user".
    """
    top, top_z = _top_mix(row)
    if row["median_active_days"] <= 1 and row["z_productions_completed"] < 0:
        return "one-time tryer"
    if top in ("stems", "lyrics") and top_z >= ABOVE_Z:
        return MIX_NAMES[top]
    if row["z_productions_completed"] >= ABOVE_Z and row["z_active_days"] >= ABOVE_Z:
        return "power producer"
    if top_z >= ABOVE_Z:
        return MIX_NAMES[top]
    if row["productions_completed"] >= 1:
        return "casual producer"
    return "engaged all-rounder" if row["z_active_days"] >= ABOVE_Z else "light user"


def name_clusters(stats: pd.DataFrame) -> dict[int, str]:
    """Unique persona names for the rows of cluster_statistics (rules: name_cluster).

    When several clusters get the same name, each gets a qualifier: "(<task>-led)" by its most over-represented
    task (see name_cluster) when that differs between all of them; else by mean active days: two ->
    "(more engaged)" / "(less engaged)"; more -> "(engagement rank i of m)". Output: cluster -> name.
    """
    base = {int(row["cluster"]): name_cluster(row) for _, row in stats.iterrows()}
    names = dict(base)
    for name in set(base.values()):
        same = stats[stats["cluster"].map(base) == name]
        if len(same) < 2:
            continue
        tops = {int(row["cluster"]): _top_mix(row)[0] for _, row in same.iterrows()}
        if len(set(tops.values())) == len(tops):
            names.update({cluster: f"{name} ({task}-led)" for cluster, task in tops.items()})
            continue
        ranked = same.sort_values(["active_days", "cluster"], ascending=[False, True])["cluster"].tolist()
        for rank, cluster in enumerate(ranked, start=1):
            if len(ranked) == 2:
                qualifier = "more engaged" if rank == 1 else "less engaged"
            else:
                qualifier = f"engagement rank {rank} of {len(ranked)}"
            names[int(cluster)] = f"{name} ({qualifier})"
    return names


def assign_personas(model: PersonaModel, profile: pd.DataFrame) -> pd.DataFrame:
    """Assign each profile row to the nearest persona centre of `model` (works on any week's profile).

    Inputs: profile with user_key and model.features. Output (profile's row order): user_key, cluster (int),
    persona (str), distance (Euclidean distance to the persona centre in the model's standardised space),
    confidence (1 - nearest / second-nearest distance, in [0, 1]: 0 = on the border between two personas).
    """
    _require(profile, ["user_key", *model.features], "profile")
    x = model.scaler.transform(_transform(profile, model.features))
    distances = np.sqrt(((x[:, None, :] - model.centers[None, :, :]) ** 2).sum(axis=2))
    nearest = distances.argmin(axis=1)
    ordered = np.sort(distances, axis=1)
    second = ordered[:, 1] if model.k > 1 else np.full(len(x), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(second > 0, 1.0 - ordered[:, 0] / second, 0.0)
    return pd.DataFrame(
        {
            "user_key": profile["user_key"].to_numpy(),
            "cluster": nearest,
            "persona": [model.names[int(c)] for c in nearest],
            "distance": ordered[:, 0],
            "confidence": np.nan_to_num(confidence),
        }
    )


def persona_migration(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Flows of users between two persona assignments (e.g. last week's and this week's, by persona NAME).

    Inputs: previous and current with user_key, persona (one row per user). A user only in `current` comes from
    'new' (not in last week's window: a new or returning user); a user only in `previous` goes to 'inactive'.
    Names are only comparable when both assignments come from the same model (see the module docstring). With
    28-day profile windows one week apart, 21 days overlap: flows are smoothed, not week-on-week behaviour.
    Output: from_persona, to_persona, users, share_of_from (users / all users of from_persona), sorted by
    from_persona, then users descending.
    """
    merged = previous[["user_key", "persona"]].merge(
        current[["user_key", "persona"]], on="user_key", how="outer", suffixes=("_from", "_to")
    )
    merged = merged.fillna({"persona_from": "new", "persona_to": "inactive"})
    flows = merged.groupby(["persona_from", "persona_to"]).size().rename("users").reset_index()
    flows.columns = ["from_persona", "to_persona", "users"]
    flows["share_of_from"] = flows["users"] / flows.groupby("from_persona")["users"].transform("sum")
    return flows.sort_values(["from_persona", "users", "to_persona"], ascending=[True, False, True]).reset_index(
        drop=True
    )
