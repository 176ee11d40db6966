"""Scenario: the ground truth of the sample Mixpanel, loaded from YAML and validated.

Every number that shapes the simulated HitCraft data lives in a scenario file (see docs/sample-scenario.md).
`load_scenario(None)` reads `$HITCRAFT_SAMPLE_SCENARIO` or the packaged `scenarios/default.yaml`.
Validation errors name the file and the dotted key that is wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .experiments import parse_extensions
from .marketing import parse_marketing
from .revenue import parse_revenue

__all__ = [
    "SEGMENT_KEYS",
    "TASK_TYPES",
    "ChannelChurn",
    "Country",
    "FeatureRetention",
    "Incident",
    "Platform",
    "Prompt",
    "PromptCompletionLift",
    "Scenario",
    "ScenarioError",
    "SegmentEarlyDropoff",
    "load_scenario",
    "resolve_date",
]

ENV_VAR = "HITCRAFT_SAMPLE_SCENARIO"
TASK_TYPES = ("production", "lyrics", "chat", "stems")
SEGMENT_KEYS = ("role", "experience_level", "utm_source", "platform")
_REL_DATE = re.compile(r"^anchor\s*(?:([+-])\s*(\d+)\s*d)?$")


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file and the key."""


def resolve_date(value: str | date, anchor: date) -> date:
    """`YYYY-MM-DD`, a `date`, `anchor`, `anchor-12d` or `anchor+3d` -> a date."""
    if isinstance(value, date):
        return value
    text = str(value).strip()
    m = _REL_DATE.match(text)
    if m:
        days = int(m.group(2) or 0)
        return anchor + timedelta(days=-days if m.group(1) == "-" else days)
    return date.fromisoformat(text)


def _check_date_text(value: Any, where: str) -> str | date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if _REL_DATE.match(text):
        return text
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not YYYY-MM-DD nor 'anchor-<N>d'") from None
    return text


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    category: str  # production | lyrics | mixing (mixing prompts also start renders)
    weight: float = 1.0


@dataclass(frozen=True)
class Platform:
    name: str
    share: float
    os: dict[str, float]
    browser: dict[str, float]


@dataclass(frozen=True)
class Country:
    code: str
    share: float
    utc_offset_hours: float
    cities: tuple[str, ...]


@dataclass(frozen=True)
class PromptCompletionLift:
    prompt_id: str
    lift: float  # relative: completion probability = base * (1 + lift)


@dataclass(frozen=True)
class SegmentEarlyDropoff:
    segment: dict[str, str]  # e.g. {"role": "songwriter"}
    after_session: int  # the session after which the extra drop-off applies (1-based)
    lift: float  # relative: drop probability = base * (1 + lift) when no production was completed so far


@dataclass(frozen=True)
class FeatureRetention:
    feature: str  # a task type (stems)
    day: int  # retention horizon in days after signup
    lift: float  # relative retention at `day` of adopters vs non-adopters
    adoption_start: float  # share of a signup cohort adopting, at history_start
    adoption_weekly_growth: float  # relative growth per week of that share
    adoption_cap: float


@dataclass(frozen=True)
class Incident:
    date: str | date  # absolute or relative to the anchor
    task: str  # production
    failure_share: float  # share of renders that fail on that date (UTC)
    segment: dict[str, str] | None = None  # only renders of these users fail more, e.g. {"platform": "ios"}


@dataclass(frozen=True)
class ChannelChurn:
    channel: str
    hazard_multiplier: float


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    history_start: str | date
    source: str
    # signups
    signups_per_day: float
    signups_weekly_growth: float
    signups_weekday: tuple[float, ...]
    signups_noise: float
    pre_signup_events: tuple[int, int]
    # personas
    roles: dict[str, float]
    experience_levels: dict[str, float]
    channels: dict[str, float]
    platforms: tuple[Platform, ...]
    countries: tuple[Country, ...]
    # behaviour
    active_day_probability: float
    active_day_concentration: float
    role_engagement: dict[str, float]
    experience_engagement: dict[str, float]
    weekday_activity: tuple[float, ...]
    hour_weights: tuple[float, ...]
    sessions_per_active_day: float
    tasks_per_session: float
    task_mix: dict[str, float]
    role_task_mix: dict[str, dict[str, float]]
    event_gap_median_s: float
    event_gap_sigma: float
    session_gap_min_minutes: float
    render_completion: float
    render_failure: float
    render_duration_median_s: float
    render_duration_sigma: float
    experience_completion: dict[str, float]
    sketch_upload_share: float
    download_after_completion: float
    lyrics_completion: float
    messages_per_chat: float
    message_like: float
    message_dislike: float
    feedback_per_session: float
    stems_adopter_task_weight: float
    subscription_share: float
    subscription_plans: dict[str, tuple[float, float]]  # plan -> (share, amount)
    # lifecycle
    early_drop_after_session: tuple[float, ...]
    daily_churn_hazard: float
    role_hazard: dict[str, float]
    # data quality
    duplicate_share: float
    late_share: float
    late_delay_days: tuple[float, float]
    ingest_delay_median_s: float
    # catalog and effects
    prompts: tuple[Prompt, ...]
    prompt_lifts: tuple[PromptCompletionLift, ...] = ()
    early_dropoffs: tuple[SegmentEarlyDropoff, ...] = ()
    feature_retention: tuple[FeatureRetention, ...] = ()
    incidents: tuple[Incident, ...] = ()
    channel_churn: tuple[ChannelChurn, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    # `experiments` and `ai` keys, parsed by experiments.parse_extensions; `revenue` by revenue.parse_revenue
    extensions: dict = field(default_factory=lambda: {"experiments": (), "ai": None}, repr=False, compare=False)

    def history_start_date(self, anchor: date) -> date:
        return resolve_date(self.history_start, anchor)


# ----------------------------------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, data: Any, source: str):
        self.source = source
        self.data = data

    def err(self, key: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {key}: {msg}")

    def get(self, key: str, default: Any = ...) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise self.err(key, "missing")
                return default
            node = node[part]
        return node

    def num(self, key: str, default: Any = ..., lo: float | None = None, hi: float | None = None) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.err(key, f"expected a number, got {v!r}")
        if lo is not None and v < lo:
            raise self.err(key, f"{v} is below the minimum {lo}")
        if hi is not None and v > hi:
            raise self.err(key, f"{v} is above the maximum {hi}")
        return float(v)

    def prob(self, key: str, default: Any = ...) -> float:
        return self.num(key, default, 0.0, 1.0)

    def shares(self, key: str, default: Any = ..., allowed: tuple[str, ...] | None = None) -> dict[str, float]:
        v = self.get(key, default)
        if not isinstance(v, dict) or not v:
            raise self.err(key, f"expected a non-empty mapping name -> share, got {v!r}")
        out: dict[str, float] = {}
        for name, share in v.items():
            if isinstance(share, bool) or not isinstance(share, (int, float)) or share < 0:
                raise self.err(f"{key}.{name}", f"expected a share >= 0, got {share!r}")
            if allowed is not None and name not in allowed:
                raise self.err(f"{key}.{name}", f"unknown name; expected one of {list(allowed)}")
            out[str(name)] = float(share)
        if sum(out.values()) <= 0:
            raise self.err(key, "shares sum to 0")
        return out

    def mults(self, key: str, names: dict[str, float]) -> dict[str, float]:
        v = self.get(key, {}) or {}
        if not isinstance(v, dict):
            raise self.err(key, f"expected a mapping name -> multiplier, got {v!r}")
        out = {n: 1.0 for n in names}
        for name in v:
            if name not in names:
                raise self.err(f"{key}.{name}", f"unknown name; expected one of {list(names)}")
            out[name] = self.num(f"{key}.{name}", lo=0.0)
        return out

    def vec(self, key: str, n: int) -> tuple[float, ...]:
        v = self.get(key)
        if not isinstance(v, list) or len(v) != n:
            raise self.err(key, f"expected a list of {n} numbers, got {v!r}")
        for i, x in enumerate(v):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0:
                raise self.err(f"{key}[{i}]", f"expected a number >= 0, got {x!r}")
        return tuple(float(x) for x in v)


def _parse(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: top level must be a mapping")
    r = _Reader(data, source)
    known = {
        "name",
        "seed",
        "history_start",
        "signups",
        "personas",
        "behaviour",
        "lifecycle",
        "data_quality",
        "prompts",
        "effects",
        "experiments",
        "ai",
        "revenue",
        "marketing",
    }
    for k in data:
        if k not in known:
            raise r.err(str(k), f"unknown top-level key; expected one of {sorted(known)}")

    roles = r.shares("personas.roles")
    exps = r.shares("personas.experience_levels")
    channels = r.shares("personas.channels")

    plats_raw = r.get("personas.platforms")
    if not isinstance(plats_raw, dict) or not plats_raw:
        raise r.err("personas.platforms", "expected a mapping platform -> {share, os, browser}")
    platforms = tuple(
        Platform(
            name,
            r.num(f"personas.platforms.{name}.share", lo=0.0),
            r.shares(f"personas.platforms.{name}.os"),
            r.shares(f"personas.platforms.{name}.browser"),
        )
        for name in plats_raw
    )
    countries_raw = r.get("personas.countries")
    if not isinstance(countries_raw, dict) or not countries_raw:
        raise r.err("personas.countries", "expected a mapping country code -> {share, utc_offset_hours, cities}")
    countries = []
    for code in countries_raw:
        cities = r.get(f"personas.countries.{code}.cities")
        if not isinstance(cities, list) or not cities or not all(isinstance(c, str) for c in cities):
            raise r.err(f"personas.countries.{code}.cities", "expected a non-empty list of city names")
        countries.append(
            Country(
                str(code),
                r.num(f"personas.countries.{code}.share", lo=0.0),
                r.num(f"personas.countries.{code}.utc_offset_hours", lo=-12, hi=14),
                tuple(cities),
            )
        )

    prompts_raw = r.get("prompts")
    if not isinstance(prompts_raw, list) or not prompts_raw:
        raise r.err("prompts", "expected a non-empty list of {id, text, category}")
    prompts = []
    for i, p in enumerate(prompts_raw):
        if not isinstance(p, dict) or not {"id", "text", "category"} <= set(p):
            raise r.err(f"prompts[{i}]", "expected a mapping with id, text, category")
        if p["category"] not in ("production", "lyrics", "mixing"):
            raise r.err(f"prompts[{i}].category", f"{p['category']!r} is not production, lyrics or mixing")
        prompts.append(Prompt(str(p["id"]), str(p["text"]), str(p["category"]), float(p.get("weight", 1.0))))
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        raise r.err("prompts", "prompt ids must be unique")
    for cat in ("production", "lyrics"):
        if not any(p.category == cat for p in prompts):
            raise r.err("prompts", f"at least one {cat!r} prompt is required")

    task_mix = r.shares("behaviour.task_mix", allowed=TASK_TYPES)
    role_task_mix_raw = r.get("behaviour.role_task_mix", {}) or {}
    role_task_mix = {}
    for role in role_task_mix_raw:
        if role not in roles:
            raise r.err(f"behaviour.role_task_mix.{role}", f"unknown role; expected one of {list(roles)}")
        role_task_mix[role] = r.shares(f"behaviour.role_task_mix.{role}", allowed=TASK_TYPES)

    plans_raw = r.get("behaviour.subscription.plans")
    if not isinstance(plans_raw, dict) or not plans_raw:
        raise r.err("behaviour.subscription.plans", "expected a mapping plan -> {share, amount}")
    plans = {
        str(k): (
            r.num(f"behaviour.subscription.plans.{k}.share", lo=0.0),
            r.num(f"behaviour.subscription.plans.{k}.amount", lo=0.0),
        )
        for k in plans_raw
    }

    early = r.get("lifecycle.early_drop_after_session")
    if not isinstance(early, list) or not early or len(early) > 5:
        raise r.err("lifecycle.early_drop_after_session", "expected a list of 1-5 probabilities")
    for i, x in enumerate(early):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x < 1:
            raise r.err(f"lifecycle.early_drop_after_session[{i}]", f"{x!r} is not a probability < 1")
    early_t = tuple(float(x) for x in early)

    pre = r.get("signups.pre_signup_events", [0, 2])
    if not (
        isinstance(pre, list) and len(pre) == 2 and all(isinstance(x, int) and x >= 0 for x in pre) and pre[0] <= pre[1]
    ):
        raise r.err("signups.pre_signup_events", "expected [min, max] non-negative integers")
    late_days = r.get("data_quality.late_delay_days", [1, 5])
    if not (isinstance(late_days, list) and len(late_days) == 2 and 0 < late_days[0] <= late_days[1]):
        raise r.err("data_quality.late_delay_days", "expected [min, max] days with 0 < min <= max")

    # effects
    eff = r.get("effects", {}) or {}
    if not isinstance(eff, dict):
        raise r.err("effects", "expected a mapping of effect kind -> list")
    known_eff = {"prompt_completion_lift", "segment_early_dropoff", "feature_retention", "incident", "channel_churn"}
    for k in eff:
        if k not in known_eff:
            raise r.err(f"effects.{k}", f"unknown effect kind; expected one of {sorted(known_eff)}")

    def items(kind: str) -> list[tuple[str, _Reader]]:
        lst = eff.get(kind, []) or []
        if not isinstance(lst, list):
            raise r.err(f"effects.{kind}", "expected a list")
        return [(f"effects.{kind}[{i}]", _Reader(x, source)) for i, x in enumerate(lst)]

    def sub(key: str, rr: _Reader, name: str) -> Any:
        try:
            return rr.get(name)
        except ScenarioError:
            raise r.err(f"{key}.{name}", "missing") from None

    def subnum(key: str, rr: _Reader, name: str, lo: float | None = None, hi: float | None = None) -> float:
        v = sub(key, rr, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise r.err(f"{key}.{name}", f"expected a number, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise r.err(f"{key}.{name}", f"{v} outside [{lo}, {hi}]")
        return float(v)

    prompt_lifts = []
    prod_ids = {p.id for p in prompts if p.category in ("production", "mixing")}
    for key, rr in items("prompt_completion_lift"):
        pid = sub(key, rr, "prompt_id")
        if pid not in prod_ids:
            raise r.err(f"{key}.prompt_id", f"{pid!r} is not a production/mixing prompt id of the catalog")
        prompt_lifts.append(PromptCompletionLift(pid, subnum(key, rr, "lift", -0.99, 5)))

    segment_vocab = {
        "role": roles,
        "experience_level": exps,
        "utm_source": channels,
        "platform": {p.name: 1 for p in platforms},
    }

    def segment(key: str, seg) -> dict[str, str]:
        if not isinstance(seg, dict) or not seg:
            raise r.err(f"{key}.segment", "expected a mapping like {role: songwriter}")
        for sk, sv in seg.items():
            if sk not in SEGMENT_KEYS:
                raise r.err(f"{key}.segment.{sk}", f"unknown segment key; expected one of {list(SEGMENT_KEYS)}")
            if sv not in segment_vocab[sk]:
                raise r.err(f"{key}.segment.{sk}", f"{sv!r} is not one of {list(segment_vocab[sk])}")
        return {str(k): str(v) for k, v in seg.items()}

    dropoffs = []
    for key, rr in items("segment_early_dropoff"):
        seg = segment(key, sub(key, rr, "segment"))
        after = int(subnum(key, rr, "after_session", 1, len(early_t)))
        lift = subnum(key, rr, "lift", -1, 10)
        if early_t[after - 1] * (1 + lift) >= 1:
            raise r.err(f"{key}.lift", "base drop probability x (1 + lift) must stay below 1")
        dropoffs.append(SegmentEarlyDropoff(seg, after, lift))

    features = []
    for key, rr in items("feature_retention"):
        feat = sub(key, rr, "feature")
        if feat != "stems":
            raise r.err(f"{key}.feature", f"{feat!r}: only 'stems' (Stem Separation Used) is supported")
        features.append(
            FeatureRetention(
                feat,
                int(subnum(key, rr, "day", 7, 120)),
                subnum(key, rr, "lift", 0, 3),
                subnum(key, rr, "adoption_start", 0, 1),
                subnum(key, rr, "adoption_weekly_growth", -0.5, 1),
                subnum(key, rr, "adoption_cap", 0, 1),
            )
        )
    if len(features) > 1:
        raise r.err("effects.feature_retention", "at most one feature_retention effect is supported")

    incidents = []
    for key, rr in items("incident"):
        task = sub(key, rr, "task")
        if task != "production":
            raise r.err(f"{key}.task", "only 'production' (render failures) is supported")
        incidents.append(
            Incident(
                _check_date_text(sub(key, rr, "date"), f"{source}: {key}.date"),
                task,
                subnum(key, rr, "failure_share", 0, 1),
                segment(key, rr.get("segment")) if rr.get("segment", None) is not None else None,
            )
        )

    churns = []
    for key, rr in items("channel_churn"):
        ch = sub(key, rr, "channel")
        if ch not in channels:
            raise r.err(f"{key}.channel", f"{ch!r} is not one of {list(channels)}")
        churns.append(ChannelChurn(ch, subnum(key, rr, "hazard_multiplier", 0.1, 10)))

    seed = r.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise r.err("seed", f"expected a non-negative integer, got {seed!r}")

    sc = Scenario(
        name=str(r.get("name", Path(source).stem)),
        seed=seed,
        history_start=_check_date_text(r.get("history_start"), f"{source}: history_start"),
        source=source,
        signups_per_day=r.num("signups.per_day", lo=0.0),
        signups_weekly_growth=r.num("signups.weekly_growth", 0.0, -0.5, 1.0),
        signups_weekday=r.vec("signups.weekday_multipliers", 7),
        signups_noise=r.num("signups.noise", 0.1, 0.0, 1.0),
        pre_signup_events=(pre[0], pre[1]),
        roles=roles,
        experience_levels=exps,
        channels=channels,
        platforms=platforms,
        countries=tuple(countries),
        active_day_probability=r.num("behaviour.active_day_probability", lo=0.01, hi=0.95),
        active_day_concentration=r.num("behaviour.active_day_concentration", 8.0, 0.5, 1000),
        role_engagement=r.mults("behaviour.role_engagement", roles),
        experience_engagement=r.mults("behaviour.experience_engagement", exps),
        weekday_activity=r.vec("behaviour.weekday_activity", 7),
        hour_weights=r.vec("behaviour.hour_weights", 24),
        sessions_per_active_day=r.num("behaviour.sessions_per_active_day", lo=1.0, hi=6.0),
        tasks_per_session=r.num("behaviour.tasks_per_session", lo=1.0, hi=20.0),
        task_mix=task_mix,
        role_task_mix=role_task_mix,
        event_gap_median_s=r.num("behaviour.event_gap.median_seconds", lo=1.0, hi=1200.0),
        event_gap_sigma=r.num("behaviour.event_gap.sigma", 0.8, 0.0, 3.0),
        session_gap_min_minutes=r.num("behaviour.session_gap_min_minutes", 60.0, 31.0, 600.0),
        render_completion=r.prob("behaviour.render.completion"),
        render_failure=r.prob("behaviour.render.failure"),
        render_duration_median_s=r.num("behaviour.render.duration_median_seconds", lo=1.0, hi=3600.0),
        render_duration_sigma=r.num("behaviour.render.duration_sigma", 0.5, 0.0, 3.0),
        experience_completion=r.mults("behaviour.render.experience_completion", exps),
        sketch_upload_share=r.prob("behaviour.sketch_upload_share"),
        download_after_completion=r.prob("behaviour.download_after_completion"),
        lyrics_completion=r.prob("behaviour.lyrics_completion"),
        messages_per_chat=r.num("behaviour.messages_per_chat", lo=1.0, hi=20.0),
        message_like=r.prob("behaviour.message_like"),
        message_dislike=r.prob("behaviour.message_dislike"),
        feedback_per_session=r.prob("behaviour.feedback_per_session"),
        stems_adopter_task_weight=r.num("behaviour.stems_adopter_task_weight", 0.15, 0.0, 1.0),
        subscription_share=r.prob("behaviour.subscription.share"),
        subscription_plans=plans,
        early_drop_after_session=early_t,
        daily_churn_hazard=r.num("lifecycle.daily_churn_hazard", lo=0.0, hi=0.5),
        role_hazard=r.mults("lifecycle.role_hazard_multipliers", roles),
        duplicate_share=r.num("data_quality.duplicate_share", 0.0, 0.0, 0.2),
        late_share=r.num("data_quality.late_share", 0.0, 0.0, 0.5),
        late_delay_days=(float(late_days[0]), float(late_days[1])),
        ingest_delay_median_s=r.num("data_quality.ingest_delay_median_seconds", 30.0, 0.0, 3600.0),
        prompts=tuple(prompts),
        prompt_lifts=tuple(prompt_lifts),
        early_dropoffs=tuple(dropoffs),
        feature_retention=tuple(features),
        incidents=tuple(incidents),
        channel_churn=tuple(churns),
        raw=data,
        extensions={
            **parse_extensions(data, source, segment_vocab, r.err),
            "revenue": parse_revenue(data, list(plans), r.err),
            "marketing": parse_marketing(data, list(channels), r.err),
        },
    )
    if sc.render_completion + sc.render_failure > 1:
        raise r.err("behaviour.render", "completion + failure must be <= 1")
    for pl in prompt_lifts:
        if sc.render_completion * (1 + pl.lift) * max(sc.experience_completion.values()) + sc.render_failure > 1:
            raise r.err("effects.prompt_completion_lift", f"{pl.prompt_id}: lifted completion + failure exceeds 1")
    if sc.message_like + sc.message_dislike > 1:
        raise r.err("behaviour.message_like", "message_like + message_dislike must be <= 1")
    if sum(p.share for p in platforms) <= 0 or sum(c.share for c in countries) <= 0:
        raise r.err("personas", "platform and country shares must not all be 0")
    for f in features:
        h_min = (
            sc.daily_churn_hazard * min(sc.role_hazard.values()) * min([1.0] + [c.hazard_multiplier for c in churns])
        )
        if math.log(1 + f.lift) / f.day >= h_min:
            raise r.err(
                "effects.feature_retention.lift",
                "too large for lifecycle.daily_churn_hazard: adopters' hazard would drop below 0",
            )
    return sc


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load and validate a scenario. None -> `$HITCRAFT_SAMPLE_SCENARIO` or the packaged default."""
    if path is None:
        from hitcraft_assets.settings import sample_settings

        path = sample_settings().scenario
    if path is None:
        ref = resources.files("hitcraft_assets.mixpanel.sample").joinpath("scenarios/default.yaml")
        text = ref.read_text(encoding="utf-8")
        source = "scenarios/default.yaml (packaged)"
    else:
        p = Path(path)
        if not p.is_file():
            raise ScenarioError(f"{p}: scenario file not found")
        text = p.read_text(encoding="utf-8")
        source = str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    return _parse(data, source)
