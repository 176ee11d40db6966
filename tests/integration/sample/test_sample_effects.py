"""Every planted effect of the default scenario is measurable in the raw generated events (fixed anchor).

Measures are computed the way the analytics would: dedup on (event, distinct_id, time, $insert_id), sessions
split at 30 min gaps, retention from activity relative to the Sign Up event. Tolerances reflect sampling noise at
the test's scale (~120 days, ~2.5M events).
"""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario

ANCHOR = date(2025, 5, 15)
DAYS = 130
SCALE = 1.0


@pytest.fixture(scope="module")
def sc():
    return load_scenario()


@pytest.fixture(scope="module")
def raw(sc):
    sim = Simulator(sc, scale=SCALE, anchor_date=ANCHOR)
    start = datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day, tzinfo=UTC) - timedelta(days=DAYS)
    end = start + timedelta(days=DAYS)
    cols = {
        k: []
        for k in (
            "event",
            "user_id",
            "distinct_id",
            "time",
            "insert_id",
            "proc_ms",
            "prompt_id",
            "role",
            "utm_source",
            "platform",
        )
    }
    for ev in sim.events(start, end):
        p = ev["properties"]
        cols["event"].append(ev["event"])
        cols["user_id"].append(p.get("$user_id"))
        cols["distinct_id"].append(p["distinct_id"])
        cols["time"].append(p["time"])
        cols["insert_id"].append(p["$insert_id"])
        cols["proc_ms"].append(p["mp_processing_time_ms"])
        cols["prompt_id"].append(p.get("prompt_id"))
        cols["role"].append(p.get("role"))
        cols["utm_source"].append(p.get("utm_source"))
        cols["platform"].append(p.get("platform"))
    df = pd.DataFrame(cols)
    df["event"] = df["event"].astype("category")
    return df


@pytest.fixture(scope="module")
def ev(raw):
    d = raw.drop_duplicates(["event", "distinct_id", "time", "insert_id"])
    d = d[d["user_id"].notna()].sort_values(["user_id", "time"], kind="stable").reset_index(drop=True)
    new = (d["user_id"] != d["user_id"].shift()) | (d["time"] - d["time"].shift() > 1800)
    d["session"] = new.astype(int).groupby(d["user_id"]).cumsum()
    signup = d[d["event"] == "Sign Up"].groupby("user_id")["time"].min()
    d["signup"] = d["user_id"].map(signup)
    d = d[d["signup"].notna()]  # users whose whole life is inside the window
    d["day_n"] = (d["time"] - d["signup"]) // 86400
    return d


def test_volume_is_demo_sized(raw):
    per_day = raw.groupby(raw["time"] // 86400).size()
    assert 15_000 < per_day.iloc[-30:].mean() < 60_000
    dau = raw[raw["user_id"].notna()].groupby(raw["time"] // 86400)["user_id"].nunique()
    assert 200 < dau.iloc[-30:].mean() < 1500


def test_duplicates_and_late_share(raw, sc):
    dup_share = 1 - raw["insert_id"].nunique() / len(raw)
    assert dup_share == pytest.approx(sc.duplicate_share, rel=0.15)
    late = ((raw["proc_ms"] - raw["time"] * 1000) >= 86_400_000).mean()
    assert late == pytest.approx(sc.late_share, rel=0.1)
    delay_days = (raw["proc_ms"] - raw["time"] * 1000) / 86_400_000
    assert delay_days.max() <= sc.late_delay_days[1]


def test_prompt_completion_lift(ev, sc):
    eff = sc.prompt_lifts[0]
    prod = [p.id for p in sc.prompts if p.category == "production"]
    started = ev[ev["event"] == "Render Started"].groupby("prompt_id").size()
    done = ev[ev["event"] == "Render Completed"].groupby("prompt_id").size()
    others = [p for p in prod if p != eff.prompt_id]
    lift = (done[eff.prompt_id] / started[eff.prompt_id]) / (done[others].sum() / started[others].sum()) - 1
    assert lift == pytest.approx(eff.lift, abs=0.06)


def test_incident_day(ev, sc):
    from hitcraft_assets.mixpanel.sample.scenario import resolve_date

    inc = sc.incidents[0]
    day = resolve_date(inc.date, ANCHOR)
    ((seg_key, seg_value),) = inc.segment.items()
    hit = ev[seg_key] == seg_value
    dates = pd.to_datetime(ev["time"], unit="s").dt.date
    for in_segment, expected_on_day in ((True, inc.failure_share), (False, sc.render_failure)):
        part = ev[hit == in_segment]
        started = part[part["event"] == "Render Started"].groupby(dates).size()
        failed = part[part["event"] == "Render Failed"].groupby(dates).size()
        share = (failed / started).fillna(0)
        assert share[day] == pytest.approx(expected_on_day, abs=0.08)  # ~400 iOS renders that day
        assert share.drop(day).max() < 0.2
    assert share.drop(day).median() == pytest.approx(sc.render_failure, abs=0.02)


def test_songwriter_early_dropoff(ev, sc):
    eff = sc.early_dropoffs[0]
    role = eff.segment["role"]
    s = (
        ev.groupby(["user_id", "session"])
        .agg(start=("time", "min"), done=("event", lambda e: (e == "Render Completed").any()), role=("role", "first"))
        .reset_index()
    )
    last = ev["time"].max()
    k = eff.after_session
    first_k = (
        s[s["session"] <= k]
        .groupby("user_id")
        .agg(n=("session", "max"), done=("done", "any"), sk=("start", "max"), role=("role", "first"))
    )
    n_sess = s.groupby("user_id")["session"].max()
    first_k["dropped"] = n_sess.reindex(first_k.index) <= k
    el = first_k[(first_k["n"] >= k) & (first_k["sk"] < last - 21 * 86400) & (first_k["role"] == role)]
    drop_no = el.loc[~el["done"], "dropped"].mean()
    drop_yes = el.loc[el["done"], "dropped"].mean()
    assert len(el) > 1000
    # "no session k+1" = the early drop (probability base, or base x (1 + lift) in the segment without a
    # production) or, having stayed, never coming back before the data ends (x, the same for both groups)
    base = sc.early_drop_after_session[k - 1]
    x = (drop_yes - base) / (1 - base)
    planted_drop = (drop_no - x) / (1 - x)
    # only ~10 % of songwriters complete no render in 2 sessions (~180 users here): allow 3 binomial std errors
    expected = base * (1 + eff.lift)
    n_no = int((~el["done"]).sum())
    se = np.sqrt(expected * (1 - expected) / n_no)
    print("songwriter drop", drop_no, drop_yes, "early drop without a production", planted_drop, "n", n_no, "se", se)
    assert abs(planted_drop - expected) < 3 * se
    # the effect is specific to the segment
    other = first_k[(first_k["n"] >= k) & (first_k["sk"] < last - 21 * 86400) & (first_k["role"] != role)]
    o_no, o_yes = other.loc[~other["done"], "dropped"], other.loc[other["done"], "dropped"]
    se_other = np.sqrt(base * (1 - base) * (1 / len(o_no) + 1 / len(o_yes)))
    assert abs(o_no.mean() - o_yes.mean()) < 3 * se_other


def test_stems_retention_and_growing_adoption(ev, sc):
    eff = sc.feature_retention[0]
    last = ev["time"].max()
    users = ev.groupby("user_id")["signup"].first()
    cohort = users[users < last - (eff.day + 8) * 86400].index
    stems = ev[(ev["event"] == "Stem Separation Used") & (ev["day_n"] < 7)]["user_id"].unique()
    active = ev[(ev["day_n"] >= eff.day) & (ev["day_n"] < eff.day + 7)]["user_id"].unique()
    r = pd.DataFrame({"stems": cohort.isin(stems), "ret": cohort.isin(active)}, index=cohort)
    rate = r.groupby("stems")["ret"].mean()
    assert r["stems"].sum() > 300
    print("stems lift", rate[True] / rate[False] - 1, r["stems"].sum())
    assert rate[True] / rate[False] - 1 == pytest.approx(eff.lift, abs=0.15)
    # adoption grows week over week: share of weekly active users who used stems
    week = (ev["time"] // 86400 - 4) // 7
    wau = ev.groupby(week)["user_id"].nunique()
    stem_wau = ev[ev["event"] == "Stem Separation Used"].groupby(week)["user_id"].nunique()
    share = (stem_wau / wau).iloc[1:-1]
    slope = np.polyfit(np.arange(len(share)), share.to_numpy(), 1)[0]
    assert slope > 0.002


def test_channel_churns_faster(ev, sc):
    ch = sc.channel_churn[0].channel
    last = ev["time"].max()
    users = ev.groupby("user_id").agg(signup=("signup", "first"), channel=("utm_source", "first"))
    cohort = users[users["signup"] < last - 30 * 86400]
    active = ev[(ev["day_n"] >= 14) & (ev["day_n"] < 21)]["user_id"].unique()
    cohort = cohort.assign(ret=cohort.index.isin(active))
    by = cohort.groupby("channel")["ret"].mean()
    assert by.idxmin() == ch
    assert by[ch] / by.drop(ch).mean() < 0.8
