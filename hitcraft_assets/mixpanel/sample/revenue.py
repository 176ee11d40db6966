"""The subscription lifecycle in the sample Mixpanel (scenario key `revenue`): trials, billing periods, renewals,
failed payments, plan changes and cancellations.

Applied to a day's batch after experiments.py (hook in `events.expand_day`), in the same spirit: every event that
exists without this key stays byte-identical, and nothing draws from the behaviour model's random streams.

- `Subscription Started` (already sent from the session where the user subscribes) gains `subscription_id`,
  `billing_period`, `period_start` and `period_end` (its first paid period).
- `Trial Started` follows `Sign Up` by a second for a share of new users (most future subscribers, fewer others).
- The billing system sends, server-side (no device, `mp_lib` python), `Subscription Renewed` at each period end
  (`period_start`, `period_end`, the plan and amount then), `Subscription Plan Changed` before a renewal on another
  monthly plan (upgrade or downgrade), `Payment Failed` when a renewal's charge fails (retried 3 days later: either
  `Subscription Renewed` for the same period or `Subscription Cancelled` with reason `payment_failed`), and
  `Subscription Cancelled` (reason) on the day a user cancels; the subscription then ends at its period's end.

A subscription's whole schedule is a pure function of the user (id material, plan, traits) and the day they
subscribed (model.State.sub_day), so any day can be generated alone. Cancellation in period k has a hazard per plan
and billing period, raised in a plan's first periods (the planted early cancellation), lowered for users of the
retention feature (stems) and raised for users who are rarely active (daily activity probability below
`inactive_below`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from dateutil.relativedelta import relativedelta

__all__ = [
    "BILLING_EVENTS",
    "STREAM_REVENUE",
    "RevenueConfig",
    "apply_revenue",
    "parse_revenue",
    "subscription_schedule",
]

STREAM_REVENUE = 1501  # new stream (issue 15): $insert_id of the events added here
TRIAL_EVENT = "Trial Started"
BILLING_EVENTS = ("Subscription Renewed", "Subscription Plan Changed", "Payment Failed", "Subscription Cancelled")
RETRY_DAYS = 3
HORIZON_DAYS = 3 * 366  # schedules stop this long after the subscription starts
CANCEL_REASONS = (
    ("too_expensive", 0.35),
    ("not_using_enough", 0.3),
    ("missing_features", 0.2),
    ("switched_tool", 0.15),
)


@dataclass(frozen=True)
class RevenueConfig:
    periods: dict[str, str]  # plan -> "month" | "year"
    cancel_hazard: dict[str, float]  # plan -> probability of cancelling within a billing period
    early_cancel: tuple[str, int, float] | None  # (plan, first n periods, hazard then): the planted plan
    adopter_factor: float  # hazard multiplier for users of the retention feature
    inactive_below: float  # a user whose daily activity probability is below this is rarely active
    inactive_factor: float  # hazard multiplier for rarely active users
    payment_failure: float  # share of renewal charges that fail
    payment_recovery: float  # share of failed charges that succeed on the retry
    upgrade: tuple[str, str, float] | None  # (from plan, to plan, probability per renewal)
    downgrade: tuple[str, str, float] | None
    trial_share_subscribers: float
    trial_share_others: float
    trial_days: int


def parse_revenue(data: dict, plans: list[str], err) -> RevenueConfig | None:
    """Validate the scenario's `revenue` mapping (None when absent); `err(key, msg)` builds the error."""
    raw = data.get("revenue")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise err("revenue", "expected a mapping")

    def num(key: str, lo: float, hi: float, default: float | None = None) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise err(f"revenue.{key}", f"expected a number, got {value!r}")
        if not lo <= value <= hi:
            raise err(f"revenue.{key}", f"{value} outside [{lo}, {hi}]")
        return float(value)

    def plan(key: str, value) -> str:
        if value not in plans:
            raise err(key, f"{value!r} is not a plan of behaviour.subscription.plans ({', '.join(plans)})")
        return str(value)

    periods = {p: "month" for p in plans}
    for p, period in (raw.get("billing_periods") or {}).items():
        if period not in ("month", "year"):
            raise err(f"revenue.billing_periods.{p}", f"{period!r} is not month or year")
        periods[plan(f"revenue.billing_periods.{p}", p)] = period
    hazards = raw.get("cancel_hazard") or {}
    if not isinstance(hazards, dict) or set(hazards) != set(plans):
        raise err("revenue.cancel_hazard", f"expected a probability for each plan ({', '.join(plans)})")
    for p, h in hazards.items():
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 <= h <= 1:
            raise err(f"revenue.cancel_hazard.{p}", f"{h!r} is not a probability")
    early = None
    if raw.get("early_cancel") is not None:
        e = raw["early_cancel"]
        if not isinstance(e, dict) or not {"plan", "periods", "hazard"} <= set(e):
            raise err("revenue.early_cancel", "expected {plan, periods, hazard}")
        if not isinstance(e["periods"], int) or e["periods"] < 1 or not 0 <= float(e["hazard"]) <= 1:
            raise err("revenue.early_cancel", "periods must be an integer >= 1 and hazard a probability")
        early = (plan("revenue.early_cancel.plan", e["plan"]), int(e["periods"]), float(e["hazard"]))

    def change(key: str):
        c = raw.get(key)
        if c is None:
            return None
        if not isinstance(c, dict) or not {"from", "to", "share"} <= set(c):
            raise err(f"revenue.{key}", "expected {from, to, share}")
        a, b = plan(f"revenue.{key}.from", c["from"]), plan(f"revenue.{key}.to", c["to"])
        if periods[a] != "month" or periods[b] != "month":
            raise err(f"revenue.{key}", "plan changes are between monthly plans")
        return a, b, float(c["share"])

    return RevenueConfig(
        periods=periods,
        cancel_hazard={p: float(h) for p, h in hazards.items()},
        early_cancel=early,
        adopter_factor=num("adopter_hazard_factor", 0.0, 10.0, 1.0),
        inactive_below=num("inactive_below", 0.0, 1.0, 0.0),
        inactive_factor=num("inactive_hazard_factor", 0.0, 10.0, 1.0),
        payment_failure=num("payment_failure", 0.0, 1.0, 0.0),
        payment_recovery=num("payment_recovery", 0.0, 1.0, 0.0),
        upgrade=change("upgrade"),
        downgrade=change("downgrade"),
        trial_share_subscribers=num("trial_share_subscribers", 0.0, 1.0, 0.0),
        trial_share_others=num("trial_share_others", 0.0, 1.0, 0.0),
        trial_days=int(num("trial_days", 1, 90, 7)),
    )


def _u(material: int, salt: str) -> float:
    from .experiments import unit_hash

    return float(unit_hash(np.array([material], np.uint64), salt)[0])


@dataclass(frozen=True)
class BillingEvent:
    day: int  # date ordinal
    second: int  # second of the UTC day
    event: str
    props: dict


def subscription_schedule(m, cfg: RevenueConfig, user: int, start_day: int) -> tuple[dict, list[BillingEvent]]:
    """(the properties Subscription Started gains, the billing events after it) of `user`, who subscribed on day
    ordinal `start_day`. Pure: the same arguments give the same schedule."""
    pop = m.pop
    uid = int(pop.uid[user])
    sub_id = f"sub_{uid:016x}"
    plan = m.plans[int(pop.plan[user])]
    start = date.fromordinal(start_day)
    step = relativedelta(years=1) if cfg.periods[plan] == "year" else relativedelta(months=1)
    inactive = float(pop.p_active[user]) < cfg.inactive_below
    events: list[BillingEvent] = []

    def amount(p: str) -> float:
        return float(m.sc.subscription_plans[p][1])

    def period(k: int) -> tuple[date, date]:  # the k-th paid period (k = 1 first), anchored on the start day
        return start + step * (k - 1), start + step * k

    first = period(1)
    started = {
        "subscription_id": sub_id,
        "billing_period": cfg.periods[plan],
        "period_start": first[0].isoformat(),
        "period_end": first[1].isoformat(),
    }

    def emit(day: date, second: int, event: str, **props) -> None:
        events.append(BillingEvent(day.toordinal(), second, event, {"subscription_id": sub_id, **props}))

    k = 1
    while True:
        p_start, p_end = period(k)
        if (p_end - start).days > HORIZON_DAYS:
            break
        hazard = cfg.cancel_hazard[plan]
        if cfg.early_cancel and cfg.early_cancel[0] == plan and k <= cfg.early_cancel[1]:
            hazard = cfg.early_cancel[2]
        hazard *= (cfg.adopter_factor if pop.adopter[user] else 1.0) * (cfg.inactive_factor if inactive else 1.0)
        material = uid ^ (k * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)
        if _u(material, "cancel") < min(hazard, 1.0):
            length = (p_end - p_start).days
            day = p_start + relativedelta(days=int(_u(material, "cancel-day") * max(length - 1, 1)))
            reason = CANCEL_REASONS[
                int(np.searchsorted(np.cumsum([w for _, w in CANCEL_REASONS]), _u(material, "reason"), side="right"))
                % len(CANCEL_REASONS)
            ]
            emit(
                day,
                36_000 + int(_u(material, "cancel-s") * 40_000),
                "Subscription Cancelled",
                plan=plan,
                reason=reason[0],
                period_end=p_end.isoformat(),
            )
            break
        # the renewal at the period's end (the billing run: 02:00-05:00 UTC)
        second = 7_200 + int(_u(material, "renew-s") * 10_800)
        for change in (cfg.upgrade, cfg.downgrade):
            if change and change[0] == plan and _u(material, f"change:{change[1]}") < change[2]:
                emit(
                    p_end,
                    second,
                    "Subscription Plan Changed",
                    from_plan=plan,
                    to_plan=change[1],
                    direction="upgrade" if amount(change[1]) > amount(plan) else "downgrade",
                    amount=amount(change[1]),
                    currency="USD",
                )
                plan = change[1]
                break
        nxt = period(k + 1)
        renewal = {
            "plan": plan,
            "amount": amount(plan),
            "currency": "USD",
            "billing_period": cfg.periods[plan],
            "period_start": nxt[0].isoformat(),
            "period_end": nxt[1].isoformat(),
            "period_number": k + 1,
        }
        if _u(material, "payment") < cfg.payment_failure:
            emit(p_end, second, "Payment Failed", plan=plan, amount=amount(plan), currency="USD", attempt=1)
            retry = p_end + relativedelta(days=RETRY_DAYS)
            if _u(material, "recovery") >= cfg.payment_recovery:
                emit(
                    retry,
                    second,
                    "Subscription Cancelled",
                    plan=plan,
                    reason="payment_failed",
                    period_end=p_end.isoformat(),
                )
                break
            emit(retry, second + 1, "Subscription Renewed", **renewal)
        else:
            emit(p_end, second + 1, "Subscription Renewed", **renewal)
        k += 1
    return started, events


def _schedules(m, cfg: RevenueConfig, plan) -> dict[int, list]:
    """day ordinal -> [(user, BillingEvent)], extended with the schedules of subscribers not seen before."""
    if not hasattr(m, "_revenue_by_day"):
        m._revenue_by_day, m._revenue_started, m._revenue_known = {}, {}, set()
    for u, d in zip(plan.sub_users.tolist(), plan.sub_days.tolist()):
        if u in m._revenue_known:
            continue
        started, events = subscription_schedule(m, cfg, u, d)
        m._revenue_started[u] = started
        for e in events:
            m._revenue_by_day.setdefault(e.day, []).append((u, e))
        m._revenue_known.add(u)
    return m._revenue_by_day


def apply_revenue(m, plan, batch):
    """The day's batch with trials, the first period on Subscription Started and the billing events of the day."""
    cfg = (m.sc.extensions or {}).get("revenue") if hasattr(m.sc, "extensions") else None
    if cfg is None or plan.sub_users is None:
        return batch
    from .events import E_SIGNUP, E_SUB, EPOCH_ORDINAL, EventBatch, user_ids
    from .model import rng_for

    d = plan.day.toordinal()
    pop = m.pop
    by_day = _schedules(m, cfg, plan)
    users = np.unique(plan.sess_user)  # base 2k / 2k+1 -> users[k] (events.expand_day)
    n = len(batch)
    ext = batch.ext.copy() if batch.ext is not None else np.full(n, None, dtype=object)
    for i in np.flatnonzero(batch.code == E_SUB).tolist():
        started = m._revenue_started.get(int(users[batch.base[i] // 2]))
        if started is not None:
            ext[i] = {**(ext[i] or {}), **started}
    new_time, new_base, new_ext = [], [], []
    bases = list(batch.bases)
    # trials: a second after Sign Up
    signups = np.flatnonzero(batch.code == E_SIGNUP)
    if len(signups):
        su = users[batch.base[signups] // 2]
        from .experiments import unit_hash

        share = np.where(pop.subscribe_at[su] >= 0, cfg.trial_share_subscribers, cfg.trial_share_others)
        trial = unit_hash(pop.uid[su], "trial") < share
        _, first_rows = np.unique(su, return_index=True)  # one trial per user, duplicates of Sign Up aside
        pick = np.zeros(len(su), bool)
        pick[first_rows] = True
        for i in signups[trial & pick].tolist():
            new_time.append(int(batch.time[i]) + 1)
            new_base.append(int(batch.base[i]))
            new_ext.append((TRIAL_EVENT, {"trial_days": cfg.trial_days}))
    # billing events of the day, server-side
    todays = by_day.get(d, [])
    if todays:
        uids, _ = user_ids(pop.uid[[u for u, _ in todays]], pop.did[[u for u, _ in todays]])
        day0 = (d - EPOCH_ORDINAL) * 86400
        server_base: dict[str, int] = {}
        for (_, e), uid in zip(todays, uids):
            if uid not in server_base:
                server_base[uid] = len(bases)
                bases.append(
                    {"time": 0, "distinct_id": uid, "$insert_id": "", "mp_processing_time_ms": 0, "mp_lib": "python"}
                )
            new_time.append(day0 + e.second)
            new_base.append(server_base[uid])
            new_ext.append((e.event, e.props))
    nn = len(new_time)
    if not nn and batch.ext is None and not (batch.code == E_SUB).any():
        return batch
    rng = rng_for(m.seed, d, STREAM_REVENUE)
    ids = np.frombuffer(rng.bytes(16 * nn), dtype="S16") if nn else np.zeros(0, "S16")
    extra = np.empty(nn, dtype=object)
    extra[:] = new_ext if nn else []
    t = np.asarray(new_time, np.int64)
    # new rows first so that ties with existing events keep those events' own order
    cols = {
        "time": np.concatenate([t, batch.time]),
        "proc_ms": np.concatenate([t * 1000 + 500, batch.proc_ms]),
        "code": np.concatenate([np.full(nn, -1, batch.code.dtype), batch.code]),
        "base": np.concatenate([np.asarray(new_base, batch.base.dtype), batch.base]),
        "aux": np.concatenate([np.zeros(nn, batch.aux.dtype), batch.aux]),
        "rid": np.concatenate([np.zeros(nn, batch.rid.dtype), batch.rid]),
        "dur": np.concatenate([np.zeros(nn, batch.dur.dtype), batch.dur]),
        "ids": np.concatenate([ids, batch.ids]),
        "ext": np.concatenate([extra, ext]),
    }
    order = np.argsort(cols["time"], kind="stable")
    return EventBatch(
        **{k: v[order] for k, v in cols.items() if k != "ext"},
        ext=cols["ext"][order],
        bases=bases,
        tables=batch.tables,
    )
