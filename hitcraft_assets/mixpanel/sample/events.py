"""Expansion of a day plan (sessions and tasks) into Mixpanel export events.

Vectorised with numpy: rows for every event are built per task type, ordered within sessions, timed with
lognormal gaps (render end events use the render duration), then sorted by time. Only the final step
(`EventBatch.dicts`) is a Python loop that builds the export dicts from per-user base dicts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .experiments import apply_extensions
from .marketing import apply_marketing
from .model import OUTCOME_COMPLETED, OUTCOME_FAILED, STREAM_EXPAND, TASK_CODES, DayPlan, UserModel, rng_for
from .revenue import apply_revenue

__all__ = ["EVENT_NAMES", "EventBatch", "expand_day", "user_ids"]

EVENT_NAMES = (
    "Sign Up",
    "Sketch Uploaded",
    "Prompt Selected",
    "Render Started",
    "Render Completed",
    "Render Failed",
    "Production Downloaded",
    "Lyrics Generated",
    "Lyrics Completed",
    "Message Sent",
    "Message Liked",
    "Message Disliked",
    "Feedback Submitted",
    "Stem Separation Used",
    "Subscription Started",
)
(
    E_SIGNUP,
    E_SKETCH,
    E_PROMPT,
    E_RSTART,
    E_RDONE,
    E_RFAIL,
    E_DOWNLOAD,
    E_LYRGEN,
    E_LYRDONE,
    E_MSG,
    E_LIKE,
    E_DISLIKE,
    E_FEEDBACK,
    E_STEMS,
    E_SUB,
) = range(len(EVENT_NAMES))
EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
MP_LIB = {"web": "web", "ios": "iphone", "android": "android"}
SKETCH_TYPES = ("voice_memo", "audio_file", "midi")
MESSAGE_TYPES = ("question", "instruction", "revision_request", "idea")
FEEDBACK_FEATURES = ("render", "lyrics", "chat", "stems")
STEM_COUNTS = (2, 4, 5)


def user_ids(uid: np.ndarray, did: np.ndarray) -> tuple[list[str], list[str]]:
    """Deterministic string ids: user ids `u_<16 hex>`, device ids UUID-shaped."""
    u = [f"u_{x:016x}" for x in uid.tolist()]
    dv = []
    for x in did.tolist():
        h = f"{x:016x}{(x * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}"
        dv.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}")
    return u, dv


@dataclass
class EventBatch:
    """One simulated UTC day plan's events, sorted by time (may spill past midnight into the next day).

    Columns are numpy arrays; property dicts are built only when iterated (bounded memory per day)."""

    time: np.ndarray  # int64 epoch seconds UTC
    proc_ms: np.ndarray  # int64 mp_processing_time_ms
    code: np.ndarray  # int8 index into EVENT_NAMES
    base: np.ndarray  # int64 index into `bases` (user x anonymous)
    aux: np.ndarray  # int32 index into tables[code] (prompt, variant, plan...)
    rid: np.ndarray  # int64 render id material
    dur: np.ndarray  # float32 render duration seconds
    ids: np.ndarray  # S16 $insert_id bytes
    bases: list
    tables: list
    ext: np.ndarray | None = None  # object: per-row extra properties (experiments.py), or (event, props) if code < 0

    def __len__(self) -> int:
        return len(self.time)

    def select(self, t_lo: int, t_hi: int) -> np.ndarray:
        """Row indices with t_lo <= time < t_hi (time-sorted)."""
        a, b = np.searchsorted(self.time, [t_lo, t_hi], side="left")
        return np.arange(a, b)

    def subset(self, rows: np.ndarray) -> EventBatch:
        return EventBatch(
            self.time[rows],
            self.proc_ms[rows],
            self.code[rows],
            self.base[rows],
            self.aux[rows],
            self.rid[rows],
            self.dur[rows],
            self.ids[rows],
            self.bases,
            self.tables,
            None if self.ext is None else self.ext[rows],
        )

    def dicts(self, rows: np.ndarray, chunk: int = 4096) -> Iterator[dict]:
        for k in range(0, len(rows), chunk):
            yield from self._dicts(rows[k : k + chunk])

    def _dicts(self, rows: np.ndarray) -> Iterator[dict]:
        names = EVENT_NAMES
        bases, tables = self.bases, self.tables
        pid_only = tables[E_LYRGEN]
        hx = self.ids[rows].tobytes().hex()
        ext = self.ext[rows] if self.ext is not None else None
        cols = zip(
            self.time[rows].tolist(),
            self.proc_ms[rows].tolist(),
            self.code[rows].tolist(),
            self.base[rows].tolist(),
            self.aux[rows].tolist(),
            self.rid[rows].tolist(),
            self.dur[rows].tolist(),
        )
        for k, (t, pm, c, b, a, r, du) in enumerate(cols):
            p = bases[b].copy()
            p["time"] = t
            p["$insert_id"] = hx[32 * k : 32 * k + 32]
            p["mp_processing_time_ms"] = pm
            if c < 0:  # an event added by experiments.py: name and properties in ext
                name, extra = ext[k]
                p.update(extra)
                yield {"event": name, "properties": p}
                continue
            tab = tables[c]
            if tab is not None:
                p.update(tab[a])
            elif c == E_RSTART:
                p["render_id"] = f"r_{r:016x}"
                p.update(pid_only[a])
            elif c == E_RDONE or c == E_RFAIL:
                p["render_id"] = f"r_{r:016x}"
                p.update(pid_only[a])
                p["duration_s"] = round(du, 1)
                if c == E_RFAIL:
                    p["error_code"] = "render_timeout" if du > 120 else "model_error"
            elif c == E_DOWNLOAD:
                p["render_id"] = f"r_{r:016x}"
                p["format"] = "wav" if a == 0 else "mp3"
            if ext is not None and ext[k] is not None:
                p.update(ext[k])
            yield {"event": names[c], "properties": p}


def _rows(sess, key, code, task=None, aux=None):
    n = len(sess)
    return (
        np.asarray(sess, np.int64),
        np.asarray(key, np.int64),
        np.full(n, code, np.int8) if np.isscalar(code) else np.asarray(code, np.int8),
        np.full(n, -1, np.int64) if task is None else np.asarray(task, np.int64),
        np.full(n, -1, np.int64) if aux is None else np.asarray(aux, np.int64),
    )


PART_SESSIONS = 10_000  # sessions expanded at once (bounds the temporaries of a large day)


def expand_day(m: UserModel, plan: DayPlan) -> EventBatch:
    """All events of a day plan, time-sorted. Sessions are expanded in user-aligned parts (bounded memory)."""
    rng = rng_for(m.seed, plan.day.toordinal(), STREAM_EXPAND)
    su = plan.sess_user
    users, inv = np.unique(su, return_inverse=True)
    bases = _bases(m, users)
    ns = len(su)
    cuts = [0]
    while cuts[-1] < ns:
        c = min(cuts[-1] + PART_SESSIONS, ns)
        while 0 < c < ns and su[c] == su[c - 1]:
            c += 1
        cuts.append(c)
    parts = []
    for s0, s1 in itertools.pairwise(cuts):
        t0, t1 = np.searchsorted(plan.task_sess, [s0, s1], side="left")
        sub = DayPlan(
            plan.day,
            su[s0:s1],
            plan.sess_ord[s0:s1],
            plan.sess_ntask[s0:s1],
            plan.task_sess[t0:t1] - s0,
            plan.task_pos[t0:t1],
            plan.task_type[t0:t1],
            plan.task_prompt[t0:t1],
            plan.task_outcome[t0:t1],
        )
        parts.append(_expand_part(m, sub, rng, inv[s0:s1]))
    cols = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in _COLS}
    del parts
    order = np.argsort(cols["time"], kind="stable")
    batch = EventBatch(**{k: cols[k][order] for k in _COLS}, bases=bases, tables=_tables(m))
    return apply_marketing(m, plan, apply_revenue(m, plan, apply_extensions(m, plan, batch)))


_COLS = ("time", "proc_ms", "code", "base", "aux", "rid", "dur", "ids")


def _bases(m: UserModel, users: np.ndarray) -> list:
    pop = m.pop
    uids, dids = user_ids(pop.uid[users], pop.did[users])
    bases = []
    names = m.roles, m.exps, m.channels
    for k, u in enumerate(users.tolist()):
        pl = int(pop.platform[u])
        plat = m.platforms[pl]
        ctry = m.countries[int(pop.country[u])]
        common = {
            "$os": m.os_names[pl][int(pop.os[u])],
            "$browser": m.browser_names[pl][int(pop.browser[u])],
            "mp_country_code": ctry.code,
            "$city": ctry.cities[int(pop.city[u])],
            "mp_lib": MP_LIB.get(plat.name, plat.name),
            "platform": plat.name,
            "utm_source": names[2][int(pop.channel[u])],
        }
        ident = {
            "time": 0,
            "distinct_id": uids[k],
            "$insert_id": "",
            "mp_processing_time_ms": 0,
            "$device_id": dids[k],
            "$user_id": uids[k],
            **common,
            "role": names[0][int(pop.role[u])],
            "experience_level": names[1][int(pop.exp[u])],
        }
        anon_d = {
            "time": 0,
            "distinct_id": "$device:" + dids[k],
            "$insert_id": "",
            "mp_processing_time_ms": 0,
            "$device_id": dids[k],
            **common,
        }
        bases.append(ident)
        bases.append(anon_d)
    return bases


def _expand_part(m: UserModel, plan: DayPlan, rng: np.random.Generator, inv: np.ndarray) -> dict:
    sc = m.sc
    pop = m.pop
    d = plan.day.toordinal()
    ns = len(plan.sess_user)
    nt = len(plan.task_sess)
    su = plan.sess_user
    first = plan.sess_ord == 1
    comps = []
    # pre-signup anonymous events and Sign Up
    fs = np.flatnonzero(first)
    npre = rng.integers(sc.pre_signup_events[0], sc.pre_signup_events[1] + 1, len(fs))
    pre_s = np.repeat(fs, npre)
    pre_i = np.arange(len(pre_s)) - np.repeat(np.cumsum(npre) - npre, npre)
    pre_code = np.where(rng.random(len(pre_s)) < 0.6, E_PROMPT, E_MSG)
    pre_aux = m.prod_prompts[rng.integers(0, len(m.prod_prompts), len(pre_s))]
    comps.append(_rows(pre_s, -100 + pre_i, pre_code, None, pre_aux))
    comps.append(_rows(fs, np.full(len(fs), -1), E_SIGNUP))
    # tasks
    key0 = plan.task_pos.astype(np.int64) * 32
    tt = plan.task_type
    ts = plan.task_sess
    pt = np.flatnonzero(tt == TASK_CODES["production"])
    sk = pt[rng.random(len(pt)) < sc.sketch_upload_share]
    comps.append(_rows(ts[sk], key0[sk], E_SKETCH, sk))
    comps.append(_rows(ts[pt], key0[pt] + 1, E_PROMPT, pt))
    comps.append(_rows(ts[pt], key0[pt] + 2, E_RSTART, pt))
    done = pt[plan.task_outcome[pt] == OUTCOME_COMPLETED]
    fail = pt[plan.task_outcome[pt] == OUTCOME_FAILED]
    comps.append(_rows(ts[done], key0[done] + 3, E_RDONE, done))
    comps.append(_rows(ts[fail], key0[fail] + 3, E_RFAIL, fail))
    dl = done[rng.random(len(done)) < sc.download_after_completion]
    comps.append(_rows(ts[dl], key0[dl] + 4, E_DOWNLOAD, dl))
    lt = np.flatnonzero(tt == TASK_CODES["lyrics"])
    comps.append(_rows(ts[lt], key0[lt], E_PROMPT, lt))
    comps.append(_rows(ts[lt], key0[lt] + 1, E_LYRGEN, lt))
    lc = lt[rng.random(len(lt)) < sc.lyrics_completion]
    comps.append(_rows(ts[lc], key0[lc] + 2, E_LYRDONE, lc))
    ct = np.flatnonzero(tt == TASK_CODES["chat"])
    nmsg = (1 + rng.poisson(sc.messages_per_chat - 1, len(ct))).clip(1, 12)
    mt = np.repeat(ct, nmsg)
    mi = np.arange(len(mt)) - np.repeat(np.cumsum(nmsg) - nmsg, nmsg)
    comps.append(_rows(ts[mt], key0[mt] + 2 * mi, E_MSG, mt))
    ur = rng.random(len(mt))
    lk = ur < sc.message_like
    dk = (ur >= sc.message_like) & (ur < sc.message_like + sc.message_dislike)
    comps.append(_rows(ts[mt[lk]], key0[mt[lk]] + 2 * mi[lk] + 1, E_LIKE, mt[lk]))
    comps.append(_rows(ts[mt[dk]], key0[mt[dk]] + 2 * mi[dk] + 1, E_DISLIKE, mt[dk]))
    stt = np.flatnonzero(tt == TASK_CODES["stems"])
    comps.append(_rows(ts[stt], key0[stt], E_STEMS, stt))
    fb = np.flatnonzero(rng.random(ns) < sc.feedback_per_session)
    comps.append(_rows(fb, np.full(len(fb), 10_000), E_FEEDBACK))
    sub = np.flatnonzero(plan.sess_ord == pop.subscribe_at[su])
    comps.append(_rows(sub, np.full(len(sub), 10_001), E_SUB))

    sess = np.concatenate([c[0] for c in comps])
    key = np.concatenate([c[1] for c in comps])
    code = np.concatenate([c[2] for c in comps])
    task = np.concatenate([c[3] for c in comps])
    aux = np.concatenate([c[4] for c in comps])
    order = np.lexsort((key, sess))
    sess, key, code, task, aux = sess[order], key[order], code[order], task[order], aux[order]
    n = len(sess)
    anon = key < -1

    # timing
    gap = sc.event_gap_median_s * np.exp(sc.event_gap_sigma * rng.standard_normal(n))
    rend = (code == E_RDONE) | (code == E_RFAIL)
    rdur = sc.render_duration_median_s * np.exp(sc.render_duration_sigma * rng.standard_normal(n))
    gap = np.where(rend, rdur, gap)
    sess_first_row = np.ones(n, dtype=bool)
    sess_first_row[1:] = sess[1:] != sess[:-1]
    gap[sess_first_row] = 0.0
    gap = np.round(gap, 1)
    dur_s = gap.copy()
    gap = np.ceil(gap).astype(np.int64)
    cg = np.cumsum(gap)
    first_idx = np.flatnonzero(sess_first_row)
    offset_in_sess = cg - np.repeat(cg[first_idx], np.diff(np.append(first_idx, n)))
    sess_dur = np.zeros(ns, dtype=np.int64)
    sess_dur[sess[first_idx]] = np.add.reduceat(gap, first_idx) if n else 0
    # session starts: signup sessions start at the population's signup second; others at a local-time hour
    country = pop.country[su]
    local = rng.choice(24, ns, p=m._p_hour) + rng.random(ns)
    sample = ((local - m.offsets[country]) * 3600).astype(np.int64) % 86400
    signup_day_user = pop.signup_day[su] == d
    sample = np.where(
        first,
        pop.signup_sec[su],
        np.where(signup_day_user, pop.signup_sec[su] + 3600 + rng.exponential(3 * 3600, ns).astype(np.int64), sample),
    )
    sample = np.where(first, -1, sample)  # keep the signup session first in its user's order
    perm = np.lexsort((sample, su))
    sample = np.where(first, pop.signup_sec[su], sample)
    starts = sample[perm]  # ascending per user, assigned to the user's slots in order
    ustart = np.ones(ns, dtype=bool)
    ustart[1:] = su[1:] != su[:-1]
    min_gap = int(sc.session_gap_min_minutes * 60)
    start = starts.copy()
    for _ in range(1, 8):  # sessions per user per day are capped well below this
        idx = np.flatnonzero(~ustart)
        if not len(idx):
            break
        prev_end = start[idx - 1] + sess_dur[idx - 1] + min_gap
        need = start[idx] < prev_end
        if not need.any():
            break
        start[idx[need]] = prev_end[need] + rng.integers(0, 1800, need.sum())
    day0 = (d - EPOCH_ORDINAL) * 86400
    time = day0 + start[sess] + offset_in_sess
    # ingestion delay; a share arrives 1-5 days late
    delay_ms = (rng.exponential(sc.ingest_delay_median_s / np.log(2), n) * 1000).astype(np.int64) + 200
    late = rng.random(n) < sc.late_share
    lo, hi = sc.late_delay_days
    delay_ms = np.where(late, (rng.uniform(lo, hi, n) * 86_400_000).astype(np.int64), delay_ms)
    proc = time * 1000 + delay_ms
    ids = np.frombuffer(rng.bytes(16 * n), dtype="S16") if n else np.zeros(0, "S16")
    # exact duplicates (same $insert_id and content), delivered right after the original
    dup = rng.random(n) < sc.duplicate_share
    rep = np.where(dup, 2, 1)
    row = np.repeat(np.arange(n), rep)
    base = inv[sess] * 2 + anon.astype(np.int64)

    # per-row property material (dicts are built lazily in EventBatch.dicts)
    aux_out = np.zeros(n, dtype=np.int32)
    tprompt = plan.task_prompt.astype(np.int32)
    has_task = task >= 0
    pr = np.where(has_task, tprompt[np.where(has_task, task, 0)], aux).astype(np.int32)
    prompt_codes = np.isin(code, (E_PROMPT, E_RSTART, E_RDONE, E_RFAIL, E_LYRGEN, E_LYRDONE))
    aux_out[prompt_codes] = pr[prompt_codes]
    small = rng.integers(0, 1 << 30, n)
    for c, size in (
        (E_SKETCH, len(SKETCH_TYPES)),
        (E_MSG, len(MESSAGE_TYPES)),
        (E_STEMS, len(STEM_COUNTS)),
        (E_SIGNUP, 3),
        (E_DOWNLOAD, 2),
    ):
        mk = code == c
        aux_out[mk] = small[mk] % size
    mk = code == E_FEEDBACK
    fb_w = np.array([1, 1, 2, 4, 4], dtype=float)
    rating = np.searchsorted(np.cumsum(fb_w / fb_w.sum()), rng.random(n), side="right").clip(0, 4)
    aux_out[mk] = ((small % len(FEEDBACK_FEATURES)) * 5 + rating)[mk]
    mk = code == E_SUB
    aux_out[mk] = pop.plan[su[sess[mk]]]
    rid = rng.integers(0, 2**63, nt, dtype=np.int64) if nt else np.zeros(0, np.int64)
    rid_row = np.where(has_task, rid[np.where(has_task, task, 0)] if nt else 0, 0)
    return {
        "time": time[row],
        "proc_ms": proc[row],
        "code": code[row],
        "base": base[row].astype(np.int32),
        "aux": aux_out[row],
        "rid": rid_row[row],
        "dur": dur_s.astype(np.float32)[row],
        "ids": ids[row],
    }


def _tables(m: UserModel) -> list:
    sc = m.sc
    t: list = [None] * len(EVENT_NAMES)
    t[E_PROMPT] = [{"prompt_id": p.id, "prompt_text": p.text, "prompt_category": p.category} for p in m.prompts]
    pid_only = [{"prompt_id": p.id, "prompt_category": p.category} for p in m.prompts]
    t[E_LYRGEN] = t[E_LYRDONE] = pid_only
    t[E_SKETCH] = [{"sketch_type": s} for s in SKETCH_TYPES]
    t[E_MSG] = [{"message_type": s} for s in MESSAGE_TYPES]
    t[E_STEMS] = [{"stem_count": s} for s in STEM_COUNTS]
    t[E_SIGNUP] = [{"signup_method": s} for s in ("email", "google", "apple")]
    t[E_FEEDBACK] = [{"rating": r, "feature": f} for f in FEEDBACK_FEATURES for r in (1, 2, 3, 4, 5)]
    t[E_SUB] = [{"plan": p, "amount": sc.subscription_plans[p][1], "currency": "USD"} for p in m.plans]
    return t
