"""Behaviour model of the sample Mixpanel: the population and the day-by-day user state machine.

Everything is vectorised with numpy over users/sessions/tasks of one day. Randomness for a day comes only
from generators seeded with (seed, day ordinal, stream), so a day's plan depends on the scenario, seed, scale,
anchor and the user state at the start of that day (which is itself simulated forward from `history_start`),
never on which date range was requested.

Lifecycle (see docs/sample-scenario.md):
- a user signs up (session 1 on the signup day), then is active on a day with a per-user probability;
- early phase: after session k (k <= len(early_drop_after_session)) the user drops out with that probability,
  raised by `segment_early_dropoff` effects (segment members without a completed render so far);
- after the early phase a daily churn hazard applies (role and channel multipliers; feature adopters get an
  additive reduction sized so that their retention at the effect's day is (1 + lift) x non-adopters').
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from .marketing import never_converts
from .scenario import TASK_TYPES, Scenario

__all__ = [
    "OUTCOME_ABANDONED",
    "OUTCOME_COMPLETED",
    "OUTCOME_FAILED",
    "TASK_CODES",
    "DayPlan",
    "Population",
    "UserModel",
    "rng_for",
]

TASK_CODES = {name: i for i, name in enumerate(TASK_TYPES)}
OUTCOME_ABANDONED, OUTCOME_COMPLETED, OUTCOME_FAILED = 0, 1, 2
MAX_SESSIONS_PER_DAY = 4
MAX_TASKS_PER_SESSION = 12
# The hazard reduction of feature adopters is ln(1 + lift) / day per day: hazard starts after the early phase
# (~3 days) and retention is measured over the week starting at `day` (midpoint ~day + 3), which cancel out.

STREAM_SIGNUP, STREAM_PLAN, STREAM_EXPAND = 1, 2, 3


def rng_for(seed: int, day_ordinal: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, day_ordinal, stream]))


def _norm(weights) -> np.ndarray:
    w = np.asarray(list(weights), dtype=float)
    return w / w.sum()


@dataclass
class Population:
    """Per-user attributes (index = creation order). Attribute codes index the scenario's vocabularies."""

    signup_day: np.ndarray  # int32 date ordinal
    signup_sec: np.ndarray  # int32 second of the UTC day the signup session starts
    role: np.ndarray
    exp: np.ndarray
    channel: np.ndarray
    platform: np.ndarray
    os: np.ndarray
    browser: np.ndarray
    country: np.ndarray
    city: np.ndarray
    p_active: np.ndarray  # float32
    hazard: np.ndarray  # float32 daily churn hazard after the early phase
    adopter: np.ndarray  # bool: uses the retention feature (stems), first in session 1
    subscribe_at: np.ndarray  # int16 session ordinal of Subscription Started, -1 never
    plan: np.ndarray  # int8 subscription plan
    uid: np.ndarray  # uint64 random id material
    did: np.ndarray  # uint64 random id material (device)
    seg_early: np.ndarray  # int8 index of the matching segment_early_dropoff effect, -1 none

    FIELDS = (
        "signup_day",
        "signup_sec",
        "role",
        "exp",
        "channel",
        "platform",
        "os",
        "browser",
        "country",
        "city",
        "p_active",
        "hazard",
        "adopter",
        "subscribe_at",
        "plan",
        "uid",
        "did",
        "seg_early",
    )

    @classmethod
    def empty(cls) -> Population:
        dt = {
            "signup_day": np.int32,
            "signup_sec": np.int32,
            "role": np.int8,
            "exp": np.int8,
            "channel": np.int8,
            "platform": np.int8,
            "os": np.int8,
            "browser": np.int8,
            "country": np.int8,
            "city": np.int16,
            "p_active": np.float32,
            "hazard": np.float32,
            "adopter": bool,
            "subscribe_at": np.int16,
            "plan": np.int8,
            "uid": np.uint64,
            "did": np.uint64,
            "seg_early": np.int8,
        }
        return cls(**{f: np.zeros(0, dtype=dt[f]) for f in cls.FIELDS})

    def __len__(self) -> int:
        return len(self.signup_day)

    def append(self, other: dict) -> None:
        for f in self.FIELDS:
            setattr(self, f, np.concatenate([getattr(self, f), other[f].astype(getattr(self, f).dtype)]))


@dataclass
class DayPlan:
    day: date
    sess_user: np.ndarray  # int64 population index
    sess_ord: np.ndarray  # int32 1-based session ordinal of the user
    sess_ntask: np.ndarray  # int32
    task_sess: np.ndarray  # int64 index into sessions
    task_pos: np.ndarray  # int32 position within the session
    task_type: np.ndarray  # int8 TASK_CODES
    task_prompt: np.ndarray  # int16 prompt index (-1 for chat/stems)
    task_outcome: np.ndarray  # int8 render outcome for production tasks
    # subscribers as of the end of the day (population index, ordinal of their Subscription Started day): the
    # billing events of later days follow from these (revenue.py)
    sub_users: np.ndarray | None = None
    sub_days: np.ndarray | None = None


@dataclass
class State:
    day: int  # ordinal of the next day to simulate
    alive: np.ndarray
    nsess: np.ndarray  # int32 sessions so far
    produced: np.ndarray  # bool: completed a render in some session so far (tracked during the early phase)
    sub_day: np.ndarray | None = None  # int32 ordinal of the day the user subscribed, -1 not (yet)

    def copy(self) -> State:
        sub = None if self.sub_day is None else self.sub_day.copy()
        return State(self.day, self.alive.copy(), self.nsess.copy(), self.produced.copy(), sub)


class UserModel:
    """Population generation and the per-day plan (sessions and tasks) with state updates."""

    def __init__(self, sc: Scenario, seed: int, scale: float, anchor: date):
        self.sc, self.seed, self.scale, self.anchor = sc, seed, scale, anchor
        self.start = sc.history_start_date(anchor)
        self.roles = list(sc.roles)
        self.exps = list(sc.experience_levels)
        self.channels = list(sc.channels)
        self.platforms = list(sc.platforms)
        self.countries = list(sc.countries)
        self.prompts = list(sc.prompts)
        self.plans = list(sc.subscription_plans)
        self._p_role = _norm(sc.roles.values())
        self._p_exp = _norm(sc.experience_levels.values())
        self._p_channel = _norm(sc.channels.values())
        self._p_platform = _norm(p.share for p in self.platforms)
        self._p_country = _norm(c.share for c in self.countries)
        self._p_plan = _norm(s for s, _ in sc.subscription_plans.values())
        self.os_names = [list(p.os) for p in self.platforms]
        self.browser_names = [list(p.browser) for p in self.platforms]
        self._p_os = [_norm(p.os.values()) for p in self.platforms]
        self._p_browser = [_norm(p.browser.values()) for p in self.platforms]
        hw = np.asarray(sc.hour_weights, dtype=float)
        self._p_hour = hw / hw.sum()
        self.offsets = np.array([c.utc_offset_hours for c in self.countries])
        # per-role task mix (stems only through adoption)
        mix = np.zeros((len(self.roles), len(TASK_TYPES)))
        for i, role in enumerate(self.roles):
            m = sc.role_task_mix.get(role, sc.task_mix)
            for t, w in m.items():
                mix[i, TASK_CODES[t]] = w
        self.role_mix = mix / mix.sum(axis=1, keepdims=True)
        self.prod_prompts = np.array([i for i, p in enumerate(self.prompts) if p.category in ("production", "mixing")])
        self.lyr_prompts = np.array([i for i, p in enumerate(self.prompts) if p.category == "lyrics"])
        self._p_prod = _norm(self.prompts[i].weight for i in self.prod_prompts)
        self._p_lyr = _norm(self.prompts[i].weight for i in self.lyr_prompts)
        lift = np.ones(len(self.prompts))
        for pl in sc.prompt_lifts:
            lift[[p.id for p in self.prompts].index(pl.prompt_id)] *= 1 + pl.lift
        self.prompt_lift = lift
        self.exp_completion = np.array([sc.experience_completion[e] for e in self.exps])
        self.incident_days: dict[int, list[tuple[float, dict[str, str] | None]]] = {}
        from .scenario import resolve_date

        for inc in sc.incidents:
            day = resolve_date(inc.date, anchor).toordinal()
            self.incident_days.setdefault(day, []).append((inc.failure_share, inc.segment))
        self.pop = Population.empty()
        self._pop_until = self.start.toordinal() - 1  # last day whose signups are in `pop`

    def _segment_mask(self, segment: dict[str, str] | None, users: np.ndarray) -> np.ndarray:
        """Which of `users` (population indices) match `segment`; None matches everyone."""
        m = np.ones(len(users), dtype=bool)
        for key, val in (segment or {}).items():
            codes, names = {
                "role": (self.pop.role, self.roles),
                "experience_level": (self.pop.exp, self.exps),
                "utm_source": (self.pop.channel, self.channels),
                "platform": (self.pop.platform, [p.name for p in self.platforms]),
            }[key]
            m &= codes[users] == names.index(val)
        return m

    # ------------------------------------------------------------------------------------------ population
    def ensure_population(self, day_ordinal: int) -> None:
        while self._pop_until < day_ordinal:
            self._pop_until += 1
            self.pop.append(self._signups(self._pop_until))

    def _signups(self, d: int) -> dict:
        sc = self.sc
        rng = rng_for(self.seed, d, STREAM_SIGNUP)
        weeks = (d - self.start.toordinal()) / 7.0
        dow = date.fromordinal(d).weekday()
        lam = (
            sc.signups_per_day
            * self.scale
            * (1 + sc.signups_weekly_growth) ** weeks
            * sc.signups_weekday[dow]
            * math.exp(sc.signups_noise * rng.standard_normal() - sc.signups_noise**2 / 2)
        )
        n = int(rng.poisson(lam))
        role = rng.choice(len(self.roles), n, p=self._p_role)
        exp = rng.choice(len(self.exps), n, p=self._p_exp)
        channel = rng.choice(len(self.channels), n, p=self._p_channel)
        platform = rng.choice(len(self.platforms), n, p=self._p_platform)
        u_os = rng.random(n)
        u_br = rng.random(n)
        os_ = np.zeros(n, dtype=np.int8)
        br = np.zeros(n, dtype=np.int8)
        for k in range(len(self.platforms)):
            m = platform == k
            os_[m] = np.searchsorted(np.cumsum(self._p_os[k]), u_os[m], side="right").clip(0, len(self._p_os[k]) - 1)
            br[m] = np.searchsorted(np.cumsum(self._p_browser[k]), u_br[m], side="right").clip(
                0, len(self._p_browser[k]) - 1
            )
        country = rng.choice(len(self.countries), n, p=self._p_country)
        ncity = np.array([len(c.cities) for c in self.countries])[country]
        city = (rng.random(n) * ncity).astype(np.int16)
        mean = sc.active_day_probability
        conc = sc.active_day_concentration
        p_act = rng.beta(mean * conc, (1 - mean) * conc, n)
        p_act *= np.array([sc.role_engagement[r] for r in self.roles])[role]
        p_act *= np.array([sc.experience_engagement[e] for e in self.exps])[exp]
        p_act = p_act.clip(0.02, 0.95)
        hazard = sc.daily_churn_hazard * np.array([sc.role_hazard[r] for r in self.roles])[role]
        for cc in sc.channel_churn:
            hazard = np.where(channel == self.channels.index(cc.channel), hazard * cc.hazard_multiplier, hazard)
        adopter = np.zeros(n, dtype=bool)
        u_ad = rng.random(n)
        for fr in sc.feature_retention:
            share = min(fr.adoption_cap, fr.adoption_start * (1 + fr.adoption_weekly_growth) ** (weeks // 1))
            adopter = u_ad < share
            delta = math.log(1 + fr.lift) / fr.day
            hazard = np.where(adopter, np.maximum(hazard - delta, 0.001), hazard)
        sub = rng.random(n) < sc.subscription_share
        subscribe_at = np.where(sub, 2 + rng.geometric(0.2, n), -1)
        plan = rng.choice(len(self.plans), n, p=self._p_plan)
        local_hour = rng.choice(24, n, p=self._p_hour) + rng.random(n)
        sec = ((local_hour - self.offsets[country]) * 3600).astype(np.int64) % 86400
        seg_early = np.full(n, -1, dtype=np.int8)
        vocab = {
            "role": (role, self.roles),
            "experience_level": (exp, self.exps),
            "utm_source": (channel, self.channels),
            "platform": (platform, [p.name for p in self.platforms]),
        }
        for k, eff in enumerate(self.sc.early_dropoffs):
            m = np.ones(n, dtype=bool)
            for key, val in eff.segment.items():
                codes, names = vocab[key]
                m &= codes == names.index(val)
            seg_early = np.where(m & (seg_early < 0), k, seg_early)
        uid = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        did = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        return {
            "signup_day": np.full(n, d),
            "signup_sec": sec,
            "role": role,
            "exp": exp,
            "channel": channel,
            "platform": platform,
            "os": os_,
            "browser": br,
            "country": country,
            "city": city,
            "p_active": p_act,
            "hazard": hazard,
            "adopter": adopter,
            "subscribe_at": subscribe_at,
            "plan": plan,
            "uid": uid,
            "did": did,
            "seg_early": seg_early,
        }

    # ------------------------------------------------------------------------------------------ state
    def initial_state(self) -> State:
        return State(
            self.start.toordinal(), np.zeros(0, bool), np.zeros(0, np.int32), np.zeros(0, bool), np.zeros(0, np.int32)
        )

    def step(self, st: State) -> DayPlan:
        """Plan day `st.day` and advance `st` to the next day (in place)."""
        sc = self.sc
        d = st.day
        self.ensure_population(d)
        pop = self.pop
        n_all = len(pop)
        grow = n_all - len(st.alive)
        if grow:  # the population may already hold later signups (profiles); they start dead
            st.alive = np.concatenate([st.alive, np.zeros(grow, bool)])
            st.nsess = np.concatenate([st.nsess, np.zeros(grow, np.int32)])
            st.produced = np.concatenate([st.produced, np.zeros(grow, bool)])
            st.sub_day = np.concatenate([st.sub_day, np.full(grow, -1, np.int32)])
        a, b = np.searchsorted(pop.signup_day, [d, d + 1], side="left")
        st.alive[a:b] = True  # today's signups
        rng = rng_for(self.seed, d, STREAM_PLAN)
        n_early = len(sc.early_drop_after_session)
        cand = np.flatnonzero(st.alive)
        is_new = pop.signup_day[cand] == d
        # daily hazard after the early phase
        late_phase = st.nsess[cand] > n_early
        u = rng.random(len(cand))
        churn = late_phase & (u < pop.hazard[cand])
        st.alive[cand[churn]] = False
        dow = date.fromordinal(d).weekday()
        u2 = rng.random(len(cand))
        active = ~churn & (is_new | (u2 < pop.p_active[cand] * sc.weekday_activity[dow]))
        users = cand[active]
        nu = len(users)
        nsess = (1 + rng.poisson(sc.sessions_per_active_day - 1, nu)).clip(1, MAX_SESSIONS_PER_DAY)
        # sessions: user-major, slot order
        sess_user = np.repeat(users, nsess)
        starts = np.cumsum(nsess) - nsess
        slot = np.arange(len(sess_user)) - np.repeat(starts, nsess)
        sess_ord = (np.repeat(st.nsess[users], nsess) + 1 + slot).astype(np.int32)
        ns = len(sess_user)
        ntask = (1 + rng.poisson(sc.tasks_per_session - 1, ns)).clip(1, MAX_TASKS_PER_SESSION).astype(np.int32)
        # tasks
        task_sess = np.repeat(np.arange(ns), ntask)
        tstart = np.cumsum(ntask) - ntask
        task_pos = (np.arange(len(task_sess)) - np.repeat(tstart, ntask)).astype(np.int32)
        nt = len(task_sess)
        t_user = sess_user[task_sess]
        role = pop.role[t_user]
        cum = np.cumsum(self.role_mix, axis=1)[role]
        ut = rng.random(nt)
        ttype = (ut[:, None] >= cum).sum(axis=1).clip(0, len(TASK_TYPES) - 1).astype(np.int8)
        adopter = pop.adopter[t_user]
        u_st = rng.random(nt)
        stems_code = TASK_CODES["stems"]
        ttype = np.where(adopter & (u_st < sc.stems_adopter_task_weight), stems_code, ttype).astype(np.int8)
        first_of_first = (task_pos == 0) & (sess_ord[task_sess] == 1) & adopter
        ttype[first_of_first] = stems_code
        # prompts and render outcomes
        prompt = np.full(nt, -1, dtype=np.int16)
        prod = ttype == TASK_CODES["production"]
        lyr = ttype == TASK_CODES["lyrics"]
        up = rng.random(nt)
        prompt[prod] = self.prod_prompts[
            np.searchsorted(np.cumsum(self._p_prod), up[prod], side="right").clip(0, len(self.prod_prompts) - 1)
        ]
        prompt[lyr] = self.lyr_prompts[
            np.searchsorted(np.cumsum(self._p_lyr), up[lyr], side="right").clip(0, len(self.lyr_prompts) - 1)
        ]
        p_complete = sc.render_completion * self.prompt_lift[prompt.clip(0)] * self.exp_completion[pop.exp[t_user]]
        p_fail = np.full(nt, sc.render_failure)
        for fs, seg in self.incident_days.get(d, ()):
            hit = self._segment_mask(seg, t_user)
            p_complete = np.where(hit, p_complete * (1 - fs) / (1 - sc.render_failure), p_complete)
            p_fail[hit] = fs
        uo = rng.random(nt)
        outcome = np.where(
            uo < p_complete, OUTCOME_COMPLETED, np.where(uo < p_complete + p_fail, OUTCOME_FAILED, OUTCOME_ABANDONED)
        ).astype(np.int8)
        outcome[~prod] = OUTCOME_ABANDONED
        sess_completed = np.bincount(task_sess[prod & (outcome == OUTCOME_COMPLETED)], minlength=ns) > 0
        # early-phase drop-off, sequential over slots
        keep = np.ones(ns, dtype=bool)
        ud = rng.random(ns)
        produced = st.produced[sess_user] | False
        dropped_user = np.zeros(n_all, dtype=bool)
        for j in range(MAX_SESSIONS_PER_DAY):
            idx = np.flatnonzero(slot == j)
            if not len(idx):
                break
            uu = sess_user[idx]
            live = ~dropped_user[uu]
            keep[idx[~live]] = False
            idx, uu = idx[live], uu[live]
            st.produced[uu] |= sess_completed[idx]
            k = sess_ord[idx]
            early = k <= n_early
            base = np.zeros(len(idx))
            base[early] = np.asarray(sc.early_drop_after_session)[k[early] - 1]
            seg = pop.seg_early[uu]
            for e_i, eff in enumerate(sc.early_dropoffs):
                hit = (seg == e_i) & (k == eff.after_session) & ~st.produced[uu]
                base = np.where(hit, base * (1 + eff.lift), base)
            drop = early & (ud[idx] < base)
            dropped_user[uu[drop]] = True
        del produced
        st.alive[dropped_user] = False
        sess_keep = keep
        # apply truncation
        new_index = np.cumsum(sess_keep) - 1
        task_keep = sess_keep[task_sess]
        plan = DayPlan(
            day=date.fromordinal(d),
            sess_user=sess_user[sess_keep],
            sess_ord=sess_ord[sess_keep],
            sess_ntask=ntask[sess_keep],
            task_sess=new_index[task_sess[task_keep]],
            task_pos=task_pos[task_keep],
            task_type=ttype[task_keep],
            task_prompt=prompt[task_keep],
            task_outcome=outcome[task_keep],
        )
        st.nsess += np.bincount(plan.sess_user, minlength=n_all).astype(np.int32)
        # the session that holds Subscription Started (events.py) makes the user a subscriber from today
        subscribed = plan.sess_user[plan.sess_ord == pop.subscribe_at[plan.sess_user]]
        subscribed = subscribed[~never_converts(self, subscribed)]  # the planted poor-conversion channel
        st.sub_day[subscribed] = d
        plan.sub_users = np.flatnonzero(st.sub_day >= 0)
        plan.sub_days = st.sub_day[plan.sub_users]
        st.day = d + 1
        return plan

    def day_ordinal(self, d: date) -> int:
        return d.toordinal()

    def last_day(self) -> date:
        return self.anchor + timedelta(days=0)
