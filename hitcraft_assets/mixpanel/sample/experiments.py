"""Experiments and AI generation metadata in the sample Mixpanel (scenario keys `experiments` and `ai`).

Applied to a day's expanded `EventBatch` after the behaviour model has run (hook in `events.expand_day`), so every
event and property that exists without these keys stays byte-identical:

- per-user choices (experiment variant, rollout membership) are a hash of the user's id material and a salt
  (no random stream is drawn);
- per-event choices (LLM model, latency, capability, intent, planted flips) are a hash of the event's
  `$insert_id` bytes, so an exact duplicate line gets exactly the same properties;
- new events (`$experiment_started`, extra `Production Downloaded` / `Message Liked`) get their `$insert_id`
  from a generator of a NEW stream (`STREAM_EXPERIMENTS`), never from the existing streams.

Planted effects change existing events only where the scenario asks for them (the render model rollout's
failures and speed-up; see docs/sample-scenario.md). The behaviour model's state (early production, drop-off)
is computed before these changes, so later days are unaffected.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

__all__ = [
    "EXPOSURE_EVENT",
    "STREAM_EXPERIMENTS",
    "AiConfig",
    "ExperimentSpec",
    "Rollout",
    "apply_extensions",
    "parse_extensions",
]

STREAM_EXPERIMENTS = 1401  # new stream (issue 14); streams 1-3 belong to the behaviour model
EXPOSURE_EVENT = "$experiment_started"
EXPERIMENT_PROPERTY = "Experiment name"
VARIANT_PROPERTY = "Variant name"
OUTCOMES = ("production_download", "message_like")


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    start: str | date
    end: str | date
    variants: tuple[tuple[str, float], ...]  # (name, weight) normalised
    segment: dict[str, str]
    new_users_only: bool
    effects: tuple[tuple[str, str, float], ...]  # (variant, outcome, share)
    exposure_loss: tuple[str, dict[str, str], float] | None  # (variant, segment, share of exposures lost)


@dataclass(frozen=True)
class Rollout:
    old: str
    new: str
    start: str | date
    ramp_days: int
    share: float  # final share of users on `new`


@dataclass(frozen=True)
class AiConfig:
    render_model: Rollout
    render_prompt: Rollout
    duration_factor: float  # new render model's duration multiplier
    failure_segment: dict[str, str]
    failure_share: float  # share of the segment's completed renders on the new model that fail instead
    assistant_models: tuple[tuple[str, float, float], ...]  # (model, weight, median latency ms)
    latency_sigma: float
    assistant_prompt: Rollout
    like_share: float  # share of new-prompt messages without feedback that get a like
    capabilities: tuple[tuple[str, float], ...]
    intents: tuple[tuple[str, float], ...]


# ------------------------------------------------------------------------------------------------ parsing
def parse_extensions(data: dict, source: str, segment_vocab: dict[str, Any], err) -> dict:
    """Validate the `experiments` and `ai` keys of a scenario mapping; `err(key, msg)` builds the error."""
    from .scenario import _check_date_text

    out: dict[str, Any] = {"experiments": (), "ai": None}

    def seg(key: str, value) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise err(key, "expected a mapping like {platform: web}")
        for sk, sv in value.items():
            if sk not in segment_vocab:
                raise err(f"{key}.{sk}", f"unknown segment key; expected one of {list(segment_vocab)}")
            if sv not in segment_vocab[sk]:
                raise err(f"{key}.{sk}", f"{sv!r} is not one of {list(segment_vocab[sk])}")
        return {str(k): str(v) for k, v in value.items()}

    def num(key: str, value, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise err(key, f"expected a number, got {value!r}")
        if not lo <= value <= hi:
            raise err(key, f"{value} outside [{lo}, {hi}]")
        return float(value)

    def need(m: dict, key: str, name: str):
        if not isinstance(m, dict) or name not in m:
            raise err(f"{key}.{name}", "missing")
        return m[name]

    def weights(key: str, value) -> tuple[tuple[str, float], ...]:
        if not isinstance(value, dict) or not value:
            raise err(key, "expected a mapping name -> weight")
        w = [(str(k), num(f"{key}.{k}", v, 0, 1e6)) for k, v in value.items()]
        total = sum(x for _, x in w)
        if total <= 0:
            raise err(key, "weights must not all be 0")
        return tuple((k, x / total) for k, x in w)

    exps = data.get("experiments") or []
    if not isinstance(exps, list):
        raise err("experiments", "expected a list")
    specs, names = [], set()
    for i, e in enumerate(exps):
        key = f"experiments[{i}]"
        if not isinstance(e, dict):
            raise err(key, "expected a mapping")
        name = str(need(e, key, "name"))
        if name in names:
            raise err(f"{key}.name", f"duplicate experiment name {name!r}")
        names.add(name)
        variants = weights(f"{key}.variants", need(e, key, "variants"))
        if len(variants) < 2:
            raise err(f"{key}.variants", "an experiment needs at least two variants")
        vnames = [v for v, _ in variants]
        effects = []
        for j, f in enumerate(e.get("effects") or []):
            fk = f"{key}.effects[{j}]"
            v = str(need(f, fk, "variant"))
            if v not in vnames:
                raise err(f"{fk}.variant", f"{v!r} is not one of {vnames}")
            o = str(need(f, fk, "outcome"))
            if o not in OUTCOMES:
                raise err(f"{fk}.outcome", f"{o!r} is not one of {list(OUTCOMES)}")
            effects.append((v, o, num(f"{fk}.share", need(f, fk, "share"), 0, 1)))
        loss = None
        if e.get("exposure_loss") is not None:
            lk = f"{key}.exposure_loss"
            lv = e["exposure_loss"]
            v = str(need(lv, lk, "variant"))
            if v not in vnames:
                raise err(f"{lk}.variant", f"{v!r} is not one of {vnames}")
            loss = (v, seg(f"{lk}.segment", lv.get("segment")), num(f"{lk}.share", need(lv, lk, "share"), 0, 1))
        specs.append(
            ExperimentSpec(
                name=name,
                start=_check_date_text(need(e, key, "start"), f"{source}: {key}.start"),
                end=_check_date_text(need(e, key, "end"), f"{source}: {key}.end"),
                variants=variants,
                segment=seg(f"{key}.segment", e.get("segment")),
                new_users_only=bool(e.get("new_users_only", False)),
                effects=tuple(effects),
                exposure_loss=loss,
            )
        )
    out["experiments"] = tuple(specs)

    ai = data.get("ai")
    if ai is not None:
        if not isinstance(ai, dict):
            raise err("ai", "expected a mapping")

        def rollout(key: str) -> Rollout:
            r = need(ai, "ai", key)
            k = f"ai.{key}"
            return Rollout(
                str(need(r, k, "from")),
                str(need(r, k, "to")),
                _check_date_text(need(r, k, "start"), f"{source}: {k}.start"),
                int(num(f"{k}.ramp_days", r.get("ramp_days", 1), 1, 365)),
                num(f"{k}.share", need(r, k, "share"), 0, 1),
            )

        rm = need(ai, "ai", "render_model")
        models = need(ai, "ai", "assistant_models")
        if not isinstance(models, dict) or not models:
            raise err("ai.assistant_models", "expected a mapping model -> {weight, latency_median_ms}")
        total = sum(
            num(f"ai.assistant_models.{m}.weight", need(v, f"ai.assistant_models.{m}", "weight"), 0, 1e6)
            for m, v in models.items()
        )
        out["ai"] = AiConfig(
            render_model=rollout("render_model"),
            render_prompt=rollout("render_prompt_version"),
            duration_factor=num(
                "ai.render_model.duration_factor", need(rm, "ai.render_model", "duration_factor"), 0.05, 5
            ),
            failure_segment=seg("ai.render_model.failure_segment", need(rm, "ai.render_model", "failure_segment")),
            failure_share=num("ai.render_model.failure_share", need(rm, "ai.render_model", "failure_share"), 0, 1),
            assistant_models=tuple(
                (
                    str(m),
                    float(v["weight"]) / total,
                    num(
                        f"ai.assistant_models.{m}.latency_median_ms",
                        need(v, f"ai.assistant_models.{m}", "latency_median_ms"),
                        1,
                        600_000,
                    ),
                )
                for m, v in models.items()
            ),
            latency_sigma=num("ai.latency_sigma", ai.get("latency_sigma", 0.5), 0, 3),
            assistant_prompt=rollout("assistant_prompt_version"),
            like_share=num(
                "ai.assistant_prompt_version.like_share",
                need(ai["assistant_prompt_version"], "ai.assistant_prompt_version", "like_share"),
                0,
                1,
            ),
            capabilities=weights("ai.capabilities", need(ai, "ai", "capabilities")),
            intents=weights("ai.intents", need(ai, "ai", "intents")),
        )
    return out


# ------------------------------------------------------------------------------------------------ hashing
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 -> uint64), wrapping arithmetic."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _salt(text: str) -> np.uint64:
    return np.uint64(zlib.crc32(text.encode()) * 0x9E3779B1 & 0xFFFFFFFFFFFFFFFF)


def unit_hash(material: np.ndarray, salt: str) -> np.ndarray:
    """A uniform [0, 1) per element of uint64 `material`, independent across salts."""
    with np.errstate(over="ignore"):
        h = _mix(material.astype(np.uint64) ^ _salt(salt))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _row_material(ids: np.ndarray) -> np.ndarray:
    """uint64 hash material from the 16 `$insert_id` bytes of each row."""
    if not len(ids):
        return np.zeros(0, np.uint64)
    two = np.frombuffer(ids.tobytes(), dtype=np.uint64).reshape(-1, 2)
    with np.errstate(over="ignore"):
        return _mix(two[:, 0]) ^ two[:, 1]


def _pick(u: np.ndarray, options: tuple[tuple[str, float], ...]) -> np.ndarray:
    cum = np.cumsum([w for _, w in options])
    return np.searchsorted(cum, u, side="right").clip(0, len(options) - 1)


def rollout_share(r: Rollout, day: int, anchor: date) -> float:
    from .scenario import resolve_date

    s = resolve_date(r.start, anchor).toordinal()
    if day < s:
        return 0.0
    return r.share * min(1.0, (day - s + 1) / r.ramp_days)


# ------------------------------------------------------------------------------------------------ applying
def apply_extensions(m, plan, batch):
    """The day's batch with experiment exposures, AI metadata and their planted effects (a new batch)."""
    cfg = getattr(m, "_extensions", None)
    if cfg is None:
        cfg = m.sc.extensions if hasattr(m.sc, "extensions") else {"experiments": (), "ai": None}
        m._extensions = cfg
    if not cfg["experiments"] and cfg["ai"] is None:
        return batch
    from .events import E_DISLIKE, E_DOWNLOAD, E_LIKE, E_MSG, E_RDONE, E_RFAIL, E_RSTART, EventBatch
    from .model import rng_for
    from .scenario import resolve_date

    d = plan.day.toordinal()
    pop = m.pop
    users = np.unique(plan.sess_user)  # base 2k / 2k+1 -> users[k]
    n = len(batch)
    time = batch.time.copy()
    code = batch.code.copy()
    keep = np.ones(n, dtype=bool)
    ext = np.full(n, None, dtype=object)
    row_u = users[batch.base // 2] if n else np.zeros(0, np.int64)
    rowh = _row_material(batch.ids)
    new: list[dict] = []  # blocks of new rows

    def seg_mask(segment: dict[str, str], idx: np.ndarray) -> np.ndarray:
        return m._segment_mask(segment, idx) if segment else np.ones(len(idx), bool)

    # --------------------------------------------------------------------- AI metadata and planted effects
    ai: AiConfig | None = cfg["ai"]
    if ai is not None and n:
        render = np.isin(code, (E_RSTART, E_RDONE, E_RFAIL))
        ri = np.flatnonzero(render)
        ru = row_u[ri]
        on_new = unit_hash(pop.uid[ru], "render_model") < rollout_share(ai.render_model, d, m.anchor)
        pv_new = unit_hash(pop.uid[ru], "render_prompt") < rollout_share(ai.render_prompt, d, m.anchor)
        ends = np.isin(code[ri], (E_RDONE, E_RFAIL)) & on_new
        # faster: the end event moves earlier by the saved (whole) seconds; reported duration scales
        dur = batch.dur[ri].astype(np.float64)
        shift = np.ceil(dur * ai.duration_factor) - np.ceil(dur)
        time[ri[ends]] += shift[ends].astype(np.int64)
        # fails more for one segment: a share of its completed renders fail instead (downloads dropped)
        hit = ends & (code[ri] == E_RDONE) & seg_mask(ai.failure_segment, ru)
        hit &= unit_hash(rowh[ri], "render_failure") < ai.failure_share
        failed_rids = set(batch.rid[ri[hit]].tolist())
        code[ri[hit]] = E_RFAIL
        if failed_rids:
            dl = np.flatnonzero(code == E_DOWNLOAD)
            keep[dl[np.isin(batch.rid[dl], list(failed_rids))]] = False
        model_names = (ai.render_model.old, ai.render_model.new)
        pv_names = (ai.render_prompt.old, ai.render_prompt.new)
        new_dur = np.round(dur * np.where(ends, ai.duration_factor, 1.0), 1)
        for k, i in enumerate(ri.tolist()):
            x = {"model": model_names[int(on_new[k])], "prompt_version": pv_names[int(pv_new[k])]}
            if ends[k]:
                x["duration_s"] = float(new_dur[k])
            ext[i] = x
        # assistant messages: message id, model, latency, capability, intent, prompt version
        mi = np.flatnonzero(np.isin(code, (E_MSG, E_LIKE, E_DISLIKE)))
        order = mi[np.lexsort((mi, batch.base[mi]))]  # per base (user or its anonymous side), in row order
        is_msg = code[order] == E_MSG
        same_as_prev = np.zeros(len(order), bool)  # an exact duplicate message line is the same message
        if len(order):
            same_as_prev[1:] = is_msg[1:] & is_msg[:-1] & (batch.ids[order[1:]] == batch.ids[order[:-1]])
        msg_no = np.cumsum(is_msg & ~same_as_prev) - 1
        first_row = order[np.flatnonzero(is_msg & ~same_as_prev)]  # message number -> its first row
        valid = msg_no >= 0
        if len(first_row):
            own = first_row[msg_no.clip(0)]
            valid &= batch.base[own] == batch.base[order]
        if len(first_row):
            fh = rowh[first_row]
            fu = row_u[first_row]
            mdl = _pick(unit_hash(fh, "llm_model"), tuple((a, w) for a, w, _ in ai.assistant_models))
            med = np.array([x for _, _, x in ai.assistant_models])[mdl]
            u1 = unit_hash(fh, "latency_a").clip(1e-12)
            u2 = unit_hash(fh, "latency_b")
            z = np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)
            lat = np.round(med * np.exp(ai.latency_sigma * z)).astype(np.int64)
            cap = _pick(unit_hash(fh, "capability"), ai.capabilities)
            intent = _pick(unit_hash(fh, "intent"), ai.intents)
            apv_new = unit_hash(pop.uid[fu], "assistant_prompt") < rollout_share(ai.assistant_prompt, d, m.anchor)
            props = []
            for j in range(len(first_row)):
                props.append(
                    {
                        "message_id": f"m_{int(fh[j]):016x}",
                        "llm_model": ai.assistant_models[int(mdl[j])][0],
                        "prompt_version": (ai.assistant_prompt.old, ai.assistant_prompt.new)[int(apv_new[j])],
                        "capability": ai.capabilities[int(cap[j])][0],
                        "intent": ai.intents[int(intent[j])][0],
                    }
                )
            for pos in np.flatnonzero(valid).tolist():
                j = int(msg_no[pos])
                x = dict(props[j])
                if is_msg[pos]:
                    x["latency_ms"] = int(lat[j])
                ext[order[pos]] = x
            # the new assistant prompt version raises likes: a share of its messages without feedback get one
            fb = np.zeros(len(first_row), bool)
            fb[msg_no[valid & ~is_msg]] = True
            add = apv_new & ~fb & (unit_hash(fh, "extra_like") < ai.like_share)
            add &= batch.base[first_row] % 2 == 0  # identified messages only (anonymous ones get no feedback)
            ai_rows = first_row[add]
            gap = 2 + (unit_hash(fh[add], "like_gap") * 20).astype(np.int64)
            new.append(
                {
                    "time": time[ai_rows] + gap,
                    "code": np.full(len(ai_rows), E_LIKE, np.int8),
                    "base": batch.base[ai_rows],
                    "aux": batch.aux[ai_rows],
                    "rid": batch.rid[ai_rows],
                    "ext": [{k: v for k, v in props[j].items()} for j in np.flatnonzero(add).tolist()],
                }
            )

    # --------------------------------------------------------------------- experiments
    for spec in cfg["experiments"]:
        s = resolve_date(spec.start, m.anchor).toordinal()
        e = resolve_date(spec.end, m.anchor).toordinal()
        if not s <= d <= e or not len(users):
            continue
        elig = seg_mask(spec.segment, users)
        if spec.new_users_only:
            elig &= pop.signup_day[users] >= s
        vcode = _pick(unit_hash(pop.uid[users], "exp:" + spec.name), spec.variants)
        exposed = elig.copy()
        if spec.exposure_loss is not None:
            lv, lseg, lshare = spec.exposure_loss
            li = [v for v, _ in spec.variants].index(lv)
            lost = (vcode == li) & seg_mask(lseg, users) & (unit_hash(pop.uid[users], "loss:" + spec.name) < lshare)
            exposed &= ~lost
        k = np.flatnonzero(exposed)
        if not len(k):
            continue
        first_t = np.full(len(users), np.iinfo(np.int64).max)
        np.minimum.at(first_t, batch.base // 2, time)
        new.append(
            {
                "time": first_t[k],
                "code": np.full(len(k), -1, np.int8),
                "base": (2 * k).astype(np.int32),
                "aux": np.zeros(len(k), np.int32),
                "rid": np.zeros(len(k), np.int64),
                "ext": [
                    (EXPOSURE_EVENT, {EXPERIMENT_PROPERTY: spec.name, VARIANT_PROPERTY: spec.variants[int(c)][0]})
                    for c in vcode[k].tolist()
                ],
            }
        )
        # outcome effects for the exposed users of a variant (exposure is their first event of the day)
        for variant, outcome, share in spec.effects:
            vi = [v for v, _ in spec.variants].index(variant)
            treated = np.zeros(len(users), bool)
            treated[k[vcode[k] == vi]] = True
            row_t = treated[batch.base // 2] & (batch.base % 2 == 0) & keep
            if outcome == "production_download":
                done = np.flatnonzero((code == E_RDONE) & row_t)
                has_dl = np.isin(batch.rid[done], batch.rid[(code == E_DOWNLOAD) & keep])
                pick = done[~has_dl & (unit_hash(rowh[done], "dl:" + spec.name) < share)]
                gap = 5 + (unit_hash(rowh[pick], "dlgap:" + spec.name) * 40).astype(np.int64)
                new.append(
                    {
                        "time": time[pick] + gap,
                        "code": np.full(len(pick), E_DOWNLOAD, np.int8),
                        "base": batch.base[pick],
                        "aux": (unit_hash(rowh[pick], "dlfmt:" + spec.name) < 0.5).astype(np.int32),
                        "rid": batch.rid[pick],
                        "ext": [None] * len(pick),
                    }
                )
            elif outcome == "message_like":
                msgs = np.flatnonzero((code == E_MSG) & row_t)
                pick = msgs[unit_hash(rowh[msgs], "like:" + spec.name) < share]
                new.append(
                    {
                        "time": time[pick] + 3,
                        "code": np.full(len(pick), E_LIKE, np.int8),
                        "base": batch.base[pick],
                        "aux": batch.aux[pick],
                        "rid": batch.rid[pick],
                        "ext": [
                            {k2: v for k2, v in (ext[i] or {}).items() if k2 != "latency_ms"} or None
                            for i in pick.tolist()
                        ],
                    }
                )

    # --------------------------------------------------------------------- assemble
    idx = np.flatnonzero(keep)
    parts = {
        "time": [time[idx]],
        "proc_ms": [batch.proc_ms[idx] + (time[idx] - batch.time[idx]) * 1000],
        "code": [code[idx]],
        "base": [batch.base[idx]],
        "aux": [batch.aux[idx]],
        "rid": [batch.rid[idx]],
        "dur": [batch.dur[idx]],
        "ids": [batch.ids[idx]],
        "ext": [ext[idx]],
    }
    nn = sum(len(b["time"]) for b in new)
    if nn:
        rng = rng_for(m.seed, d, STREAM_EXPERIMENTS)
        ids = np.frombuffer(rng.bytes(16 * nn), dtype="S16")
        delay = (rng.exponential(m.sc.ingest_delay_median_s / np.log(2), nn) * 1000).astype(np.int64) + 200
        o = 0
        for b in new:
            c = len(b["time"])
            if not c:
                continue
            ex = np.empty(c, dtype=object)
            ex[:] = b["ext"] if c else []
            # new rows go first so that ties with existing events keep those events' own order
            parts["time"].insert(0, np.asarray(b["time"], np.int64))
            parts["proc_ms"].insert(0, np.asarray(b["time"], np.int64) * 1000 + delay[o : o + c])
            parts["code"].insert(0, b["code"])
            parts["base"].insert(0, np.asarray(b["base"]).astype(batch.base.dtype))
            parts["aux"].insert(0, np.asarray(b["aux"]).astype(batch.aux.dtype))
            parts["rid"].insert(0, np.asarray(b["rid"]).astype(batch.rid.dtype))
            parts["dur"].insert(0, np.zeros(c, batch.dur.dtype))
            parts["ids"].insert(0, ids[o : o + c])
            parts["ext"].insert(0, ex)
            o += c
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(cols["time"], kind="stable")
    return EventBatch(
        **{k: v[order] for k, v in cols.items() if k != "ext"},
        ext=cols["ext"][order],
        bases=batch.bases,
        tables=batch.tables,
    )
