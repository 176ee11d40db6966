"""Simulator: deterministic HitCraft behaviour, exposed as Mixpanel export events and Engage profiles.

    sim = Simulator(load_scenario(), scale=1.0, anchor_date=date(2025, 5, 15))
    for ev in sim.events(start, end): ...      # export-format dicts, tz-aware UTC bounds [start, end)
    for prof in sim.profiles(as_of): ...       # Engage-format dicts

Events of a UTC day depend only on (scenario, seed, scale, anchor) — never on the requested range. User state
is simulated forward day by day from the scenario's `history_start` and checkpointed, so a later request
resumes from the nearest checkpoint instead of starting over. Days are produced lazily, one at a time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson

from .events import EPOCH_ORDINAL, EventBatch, expand_day, user_ids
from .model import DayPlan, State, UserModel
from .scenario import Scenario

__all__ = ["Simulator"]

CHECKPOINT_EVERY_DAYS = 14
FIRST_NAMES = (
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Maya",
    "Leo",
    "Noa",
    "Ivy",
    "Kai",
    "Zoe",
    "Omar",
    "Lena",
    "Ravi",
    "Aisha",
    "Mateo",
    "Yuki",
    "Chloe",
    "Marcus",
    "Priya",
    "Diego",
    "Nia",
    "Finn",
    "Sofia",
    "Ezra",
)
LAST_NAMES = (
    "Rivera",
    "Chen",
    "Okafor",
    "Schmidt",
    "Silva",
    "Patel",
    "Kim",
    "Novak",
    "Dubois",
    "Haddad",
    "Johnson",
    "Garcia",
    "Murphy",
    "Larsen",
    "Moreau",
    "Tanaka",
    "Costa",
    "Ali",
    "Brooks",
    "Reyes",
)


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("Simulator bounds must be timezone-aware datetimes")
    return dt.astimezone(UTC)


class Simulator:
    def __init__(
        self, scenario: Scenario, *, seed: int | None = None, scale: float = 1.0, anchor_date: date | None = None
    ):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.scale = float(scale)
        self.anchor_date = anchor_date or datetime.now(UTC).date()
        self.model = UserModel(scenario, self.seed, self.scale, self.anchor_date)
        self.history_start = self.model.start
        self._lock = threading.RLock()
        self._state: State = self.model.initial_state()
        self._checkpoints: dict[int, State] = {}
        self._plans: OrderedDict[int, DayPlan] = OrderedDict()
        self._batches: OrderedDict[int, EventBatch] = OrderedDict()
        self._spills: OrderedDict[int, EventBatch] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"Simulator({self.scenario.name!r}, seed={self.seed}, scale={self.scale}, "
            f"anchor_date={self.anchor_date.isoformat()})"
        )

    # ------------------------------------------------------------------------------------------ plans
    def _plan(self, d: int) -> DayPlan | None:
        """The plan of UTC day ordinal d (None before history_start)."""
        if d < self.history_start.toordinal():
            return None
        with self._lock:
            if d in self._plans:
                return self._plans[d]
            if self._state.day > d:
                cps = [c for c in self._checkpoints if c <= d]
                self._state = (self._checkpoints[max(cps)] if cps else self.model.initial_state()).copy()
            plan = None
            while self._state.day <= d:
                cur = self._state.day
                if (cur - self.history_start.toordinal()) % CHECKPOINT_EVERY_DAYS == 0 and cur not in self._checkpoints:
                    self._checkpoints[cur] = self._state.copy()
                plan = self.model.step(self._state)
                self._plans[cur] = plan
                while len(self._plans) > 2:
                    self._plans.popitem(last=False)
            return plan

    def _batch(self, d: int) -> EventBatch | None:
        """The full event batch of day plan d (only the most recent one is cached: bounded memory)."""
        with self._lock:
            if d in self._batches:
                return self._batches[d]
        plan = self._plan(d)
        if plan is None:
            return None
        with self._lock:
            self._batches.clear()  # free the previous day before building this one
        batch = expand_day(self.model, plan)
        end = (d + 1 - EPOCH_ORDINAL) * 86400
        spill = batch.subset(batch.select(end, end + 2 * 86400))
        with self._lock:
            self._batches.clear()
            self._batches[d] = batch
            self._spills[d] = spill
            while len(self._spills) > 8:
                self._spills.popitem(last=False)
        return batch

    def _spill(self, d: int) -> EventBatch | None:
        """Events of day plan d that fall after its UTC midnight (late-evening sessions)."""
        with self._lock:
            if d in self._spills:
                return self._spills[d]
        if self._batch(d) is None:
            return None
        return self._spills[d]

    def _day_parts(self, start: datetime, end: datetime) -> Iterator[tuple[EventBatch, np.ndarray]]:
        """(batch, rows) for [start, end) in time order; a plan's sessions may spill past its midnight."""
        t0 = int(_utc(start).timestamp())
        t1 = int(_utc(end).timestamp())
        if t1 <= t0:
            return
        d0 = t0 // 86400 + EPOCH_ORDINAL
        d1 = (t1 - 1) // 86400 + EPOCH_ORDINAL
        for d in range(d0, d1 + 1):
            lo = max(t0, (d - EPOCH_ORDINAL) * 86400)
            hi = min(t1, (d + 1 - EPOCH_ORDINAL) * 86400)
            parts = []
            for b in (self._spill(d - 1), self._batch(d)):
                if b is not None:
                    rows = b.select(lo, hi)
                    if len(rows):
                        parts.append((b, rows))
            if len(parts) == 2:
                (b0, r0), (b1, r1) = parts
                t = np.concatenate([b0.time[r0], b1.time[r1]])
                which = np.concatenate([np.zeros(len(r0), np.int8), np.ones(len(r1), np.int8)])
                rr = np.concatenate([r0, r1])
                o = np.argsort(t, kind="stable")
                which, rr = which[o], rr[o]
                cut = np.flatnonzero(np.diff(which)) + 1
                for seg_w, seg_r in zip(np.split(which, cut), np.split(rr, cut)):
                    yield (b0 if seg_w[0] == 0 else b1), seg_r
            elif parts:
                yield parts[0]

    # ------------------------------------------------------------------------------------------ public
    def events(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Export-format dicts {"event", "properties"} with start <= time < end (UTC), time-ordered."""
        for batch, rows in self._day_parts(start, end):
            yield from batch.dicts(rows)

    def ndjson_chunks(
        self, start: datetime, end: datetime, *, chunk_events: int = 2000, predicate=None
    ) -> Iterator[tuple[bytes, int]]:
        """(bytes, n_lines) chunks of NDJSON export lines; predicate(dict) -> bool filters events."""
        dumps = orjson.dumps
        opt = orjson.OPT_APPEND_NEWLINE
        for batch, rows in self._day_parts(start, end):
            for k in range(0, len(rows), chunk_events):
                part = rows[k : k + chunk_events]
                if predicate is None:
                    lines = [dumps(ev, option=opt) for ev in batch.dicts(part)]
                else:
                    lines = [dumps(ev, option=opt) for ev in batch.dicts(part) if predicate(ev)]
                if lines:
                    yield b"".join(lines), len(lines)

    def day_event_count(self, day: date) -> int:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return sum(len(r) for _, r in self._day_parts(start, start + timedelta(days=1)))

    def profiles(self, as_of: datetime) -> Iterator[dict]:
        """Engage-format profiles of users who signed up by `as_of`."""
        t = int(_utc(as_of).timestamp())
        last_day = t // 86400 + EPOCH_ORDINAL
        with self._lock:
            self.model.ensure_population(last_day)
            pop = self.model.pop
            n = len(pop)
            created = (pop.signup_day[:n].astype(np.int64) - EPOCH_ORDINAL) * 86400 + pop.signup_sec[:n]
        m = self.model
        idx = np.flatnonzero(created <= t)
        chunk = 5000
        for k in range(0, len(idx), chunk):
            part = idx[k : k + chunk]
            uids, _ = user_ids(pop.uid[part], pop.did[part])
            for j, u in enumerate(part.tolist()):
                h = int(pop.uid[u])
                first = FIRST_NAMES[h % len(FIRST_NAMES)]
                last = LAST_NAMES[(h >> 8) % len(LAST_NAMES)]
                pl = int(pop.platform[u])
                ctry = m.countries[int(pop.country[u])]
                created_s = datetime.fromtimestamp(int(created[u]), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
                yield {
                    "$distinct_id": uids[j],
                    "$properties": {
                        "$name": f"{first} {last}",
                        "$email": f"{first.lower()}.{last.lower()}.{h % 10000:04d}@example.com",
                        "$created": created_s,
                        "role": m.roles[int(pop.role[u])],
                        "experience_level": m.exps[int(pop.exp[u])],
                        "utm_source": m.channels[int(pop.channel[u])],
                        "acquisition_channel": m.channels[int(pop.channel[u])],
                        "platform": m.platforms[pl].name,
                        "$os": m.os_names[pl][int(pop.os[u])],
                        "$country_code": ctry.code,
                        "$city": ctry.cities[int(pop.city[u])],
                    },
                }
