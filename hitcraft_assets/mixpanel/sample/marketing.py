"""Marketing touches and conversion by channel in the sample Mixpanel (scenario key `marketing`).

Applied to a day's batch after revenue.py (hook in `events.expand_day`); like the other extensions it draws nothing
from the behaviour model's random streams (choices are hashes of the user's id material and the session's start):

- A session that came from a campaign carries `utm_source`, `utm_medium` and `utm_campaign` on its first event
  (Mixpanel's convention for a landing with UTM parameters). The signup session of a user acquired by a paid
  channel is such a touch (its source is the signup channel); a later session is one with probability
  `touch_share` (source from `touch_mix`). The other events keep the user's signup channel in `utm_source`.
- Planted: `converting_campaign`: the sessions before a future subscriber's subscription come from that campaign far
  more often (its touches precede paid conversions); `poor_conversion`: a share of the users a channel brings who
  would have subscribed never do (their Subscription Started is not sent: model.step asks `never_converts`).
- `spend_rows`: the daily spend per channel and campaign the marketing team would keep (not in Mixpanel): spend
  that buys a channel's signups with diminishing returns (signups = scale * spend ^ elasticity, spend with a
  +-15 % day-to-day noise). The sample's signups do not depend on spend: the curve is planted by deriving the spend
  from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MarketingConfig", "apply_marketing", "never_converts", "parse_marketing", "spend_rows"]


@dataclass(frozen=True)
class Campaigns:
    medium: str
    campaigns: tuple[tuple[str, float], ...]  # (campaign, weight) normalised


@dataclass(frozen=True)
class MarketingConfig:
    sources: dict[str, Campaigns]  # paid source -> its medium and campaigns
    touch_share: float  # later sessions that come from a campaign
    touch_mix: tuple[tuple[str, float], ...]  # (source, weight) normalised, of later touches
    converting_campaign: tuple[str, str, float] | None  # (source, campaign, share of pre-subscription sessions)
    poor_conversion: tuple[str, float] | None  # (channel, share of its would-be subscribers who never subscribe)
    spend_elasticity: dict[str, float]  # source -> b in signups = scale * spend ^ b
    cost_per_signup: dict[str, float]  # source -> spend per signup at the channel's mean daily volume


def parse_marketing(data: dict, channels: list[str], err) -> MarketingConfig | None:
    """Validate the scenario's `marketing` mapping (None when absent)."""
    raw = data.get("marketing")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise err("marketing", "expected a mapping")

    def prob(key: str, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise err(key, f"{value!r} is not a probability")
        return float(value)

    def weights(key: str, value) -> tuple[tuple[str, float], ...]:
        bad = not isinstance(value, dict) or not value
        if bad or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in value.values()):
            raise err(key, "expected a mapping name -> weight >= 0")
        total = float(sum(value.values()))
        if total <= 0:
            raise err(key, "weights must not all be 0")
        return tuple((str(k), float(w) / total) for k, w in value.items())

    sources = {}
    for source, spec in (raw.get("sources") or {}).items():
        if source not in channels:
            raise err(f"marketing.sources.{source}", f"not a channel of personas.channels ({', '.join(channels)})")
        if not isinstance(spec, dict) or not {"medium", "campaigns", "cost_per_signup"} <= set(spec):
            raise err(f"marketing.sources.{source}", "expected {medium, campaigns, cost_per_signup, elasticity}")
        campaigns = weights(f"marketing.sources.{source}.campaigns", spec["campaigns"])
        sources[source] = (spec, Campaigns(str(spec["medium"]), campaigns))
    if not sources:
        raise err("marketing.sources", "expected at least one paid source")
    mix = weights("marketing.touch_mix", raw.get("touch_mix"))
    for s, _ in mix:
        if s not in sources:
            raise err(f"marketing.touch_mix.{s}", "not a source of marketing.sources")
    converting = None
    if raw.get("converting_campaign") is not None:
        c = raw["converting_campaign"]
        found = [s for s, (_, camp) in sources.items() if c.get("campaign") in dict(camp.campaigns)]
        if not found:
            campaign = c.get("campaign")
            raise err("marketing.converting_campaign.campaign", f"{campaign!r} is not a campaign of any source")
        converting = (found[0], str(c["campaign"]), prob("marketing.converting_campaign.share", c.get("share")))
    poor = None
    if raw.get("poor_conversion") is not None:
        p = raw["poor_conversion"]
        if p.get("channel") not in channels:
            raise err("marketing.poor_conversion.channel", f"{p.get('channel')!r} is not a channel")
        poor = (str(p["channel"]), prob("marketing.poor_conversion.share", p.get("share")))
    elasticity, cost = {}, {}
    for source, (spec, _) in sources.items():
        b = spec.get("elasticity", 1.0)
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b <= 1:
            raise err(f"marketing.sources.{source}.elasticity", f"{b!r} is not in (0, 1]")
        c = spec["cost_per_signup"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0:
            raise err(f"marketing.sources.{source}.cost_per_signup", f"{c!r} is not a positive amount")
        elasticity[source], cost[source] = float(b), float(c)
    return MarketingConfig(
        sources={s: camp for s, (_, camp) in sources.items()},
        touch_share=prob("marketing.touch_share", raw.get("touch_share", 0.0)),
        touch_mix=mix,
        converting_campaign=converting,
        poor_conversion=poor,
        spend_elasticity=elasticity,
        cost_per_signup=cost,
    )


def _config(m) -> MarketingConfig | None:
    return (m.sc.extensions or {}).get("marketing") if hasattr(m.sc, "extensions") else None


def never_converts(m, users: np.ndarray) -> np.ndarray:
    """Mask of `users` whose subscription the planted poor-conversion channel suppresses."""
    cfg = _config(m)
    if cfg is None or cfg.poor_conversion is None or not len(users):
        return np.zeros(len(users), bool)
    from .experiments import unit_hash

    channel, share = cfg.poor_conversion
    on_channel = m.pop.channel[users] == m.channels.index(channel)
    return on_channel & (unit_hash(m.pop.uid[users], "never-converts") < share)


def _pick(u: np.ndarray, options: tuple[tuple[str, float], ...]) -> np.ndarray:
    cum = np.cumsum([w for _, w in options])
    return np.searchsorted(cum, u, side="right").clip(0, len(options) - 1)


def apply_marketing(m, plan, batch):
    """The day's batch with UTM touches on the first event of campaign sessions and the suppressed subscriptions
    of the poor-conversion channel removed."""
    cfg = _config(m)
    if cfg is None or not len(batch):
        return batch
    from .events import E_RDONE, E_RFAIL, E_SUB, EventBatch
    from .experiments import unit_hash

    pop = m.pop
    users = np.unique(plan.sess_user)  # base 2k / 2k+1 -> users[k] (events.expand_day); server bases are later
    n_user_bases = 2 * len(users)
    on_user = batch.base < n_user_bases
    row_u = np.where(on_user, users[np.minimum(batch.base // 2, len(users) - 1)], -1)
    keep = ~((batch.code == E_SUB) & on_user & never_converts(m, np.where(on_user, row_u, 0)))
    # session starts: a user's first row of the plan, and any row after a gap longer than the sessions' minimum gap,
    # among the behaviour model's rows whose time no other extension moves (not render ends, not added events)
    steady = (batch.code >= 0) & (batch.code != E_RDONE) & (batch.code != E_RFAIL)
    idx = np.flatnonzero(on_user & keep & steady)
    order = idx[np.lexsort((batch.time[idx], row_u[idx]))]
    t, u = batch.time[order], row_u[order]
    gap = int(m.sc.session_gap_min_minutes * 60) - 1
    first = np.ones(len(order), bool)
    first[1:] = (u[1:] != u[:-1]) | (t[1:] - t[:-1] > gap)
    starts, su = order[first], u[first]
    signup_day = pop.signup_day[su] == plan.day.toordinal()
    first_of_user = np.ones(len(su), bool)
    first_of_user[1:] = su[1:] != su[:-1]
    signup_session = signup_day & first_of_user
    material = pop.uid[su] ^ batch.time[starts].astype(np.uint64)
    channel = np.array(m.channels)[pop.channel[su]]
    paid = np.isin(channel, list(cfg.sources))
    touch = np.where(signup_session, paid, unit_hash(material, "touch") < cfg.touch_share)
    sources = np.array([s for s, _ in cfg.touch_mix])
    source = np.where(signup_session, channel, sources[_pick(unit_hash(material, "touch-source"), cfg.touch_mix)])
    campaign_u = unit_hash(material, "campaign")
    hit = np.zeros(len(su), bool)  # sessions the planted campaign takes
    if cfg.converting_campaign is not None:  # the planted campaign: before a future subscription
        c_source, c_name, c_share = cfg.converting_campaign
        sub_at = pop.subscribe_at[su]
        before = ~signup_session & (sub_at >= 0)
        hit = before & (unit_hash(material, "converting-campaign") < c_share) & ~never_converts(m, su)
        touch |= hit
        source = np.where(hit, c_source, source)
    ext = batch.ext.copy() if batch.ext is not None else np.full(len(batch), None, dtype=object)
    utm_by_id = {}
    for k in np.flatnonzero(touch).tolist():
        spec = cfg.sources[str(source[k])]
        name = spec.campaigns[int(_pick(campaign_u[k : k + 1], spec.campaigns)[0])][0]
        if hit[k]:
            name = cfg.converting_campaign[1]
        utm_by_id[batch.ids[starts[k]]] = {
            "utm_source": str(source[k]),
            "utm_medium": spec.medium,
            "utm_campaign": name,
        }
    # the touch row and its exact duplicates (same $insert_id) carry the same properties
    for row in np.flatnonzero(np.isin(batch.ids, list(utm_by_id))).tolist():
        ext[row] = {**(ext[row] or {}), **utm_by_id[batch.ids[row]]}
    rows = np.flatnonzero(keep)
    return EventBatch(
        batch.time[rows],
        batch.proc_ms[rows],
        batch.code[rows],
        batch.base[rows],
        batch.aux[rows],
        batch.rid[rows],
        batch.dur[rows],
        batch.ids[rows],
        batch.bases,
        batch.tables,
        ext[rows],
    )


def spend_rows(m, first, last) -> list[dict]:
    """The marketing spend of each day first..last (inclusive) per paid source and campaign: the spend that buys
    the day's signups of that channel on a diminishing-returns curve signups = a * spend ^ b, with a set so that
    the channel's mean daily signups cost `cost_per_signup` each (a deterministic function of the simulated
    signups). Rows: date, channel, campaign, spend."""
    cfg = _config(m)
    if cfg is None:
        return []
    return [r for d in range(first.toordinal(), last.toordinal() + 1) for r in _day_spend(m, cfg, d)]


def _day_spend(m, cfg: MarketingConfig, d: int) -> list[dict]:
    from datetime import date

    from .experiments import unit_hash

    day = date.fromordinal(d)
    m.ensure_population(d)
    pop, sc = m.pop, m.sc
    a0, a1 = np.searchsorted(pop.signup_day, [d, d + 1], side="left")
    weeks = (d - m.start.toordinal()) / 7.0
    volume = sc.signups_per_day * m.scale * (1 + sc.signups_weekly_growth) ** weeks  # expected signups of the day
    out = []
    for source, campaigns in cfg.sources.items():
        c = m.channels.index(source)
        signups = int((pop.channel[a0:a1] == c).sum())
        mean = max(volume * float(m._p_channel[c]), 1.0)
        b = cfg.spend_elasticity[source]
        a = mean / (mean * cfg.cost_per_signup[source]) ** b  # the mean day's signups cost mean * cost_per_signup
        noise = float(np.exp(0.15 * (unit_hash(np.array([d * 977 + c], np.uint64), "spend")[0] - 0.5) * 2))
        spend = (signups / a) ** (1.0 / b) * noise if signups else 0.0
        for name, w in campaigns.campaigns:
            out.append({"date": day.isoformat(), "channel": source, "campaign": name, "spend": round(spend * w, 2)})
    return out
