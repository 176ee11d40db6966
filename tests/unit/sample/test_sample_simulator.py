from collections import Counter
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from hitcraft_assets.mixpanel.sample import Simulator, load_scenario, write_export_files
from hitcraft_assets.mixpanel.sample.revenue import BILLING_EVENTS

ANCHOR = date(2025, 5, 15)


def utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario()


@pytest.fixture(scope="module")
def sim(scenario):
    return Simulator(scenario, scale=0.3, anchor_date=ANCHOR)


def day_events(sim, d):
    return list(sim.events(utc(d), utc(d) + timedelta(days=1)))


def test_same_output_twice(scenario):
    a = Simulator(scenario, scale=0.3, anchor_date=ANCHOR)
    b = Simulator(scenario, scale=0.3, anchor_date=ANCHOR)
    d = ANCHOR - timedelta(days=3)
    ea, eb = day_events(a, d), day_events(b, d)
    assert ea and ea == eb


def test_day_alone_equals_day_inside_range(scenario, sim):
    d = ANCHOR - timedelta(days=5)
    alone = day_events(Simulator(scenario, scale=0.3, anchor_date=ANCHOR), d)
    rng = list(sim.events(utc(d - timedelta(days=2)), utc(d + timedelta(days=2))))
    t0, t1 = int(utc(d).timestamp()), int(utc(d).timestamp()) + 86400
    inside = [e for e in rng if t0 <= e["properties"]["time"] < t1]
    assert alone == inside
    # going back in time (checkpoint restore) gives the same day again
    assert day_events(sim, d) == alone


def test_seed_changes_output(scenario):
    d = ANCHOR - timedelta(days=1)
    a = day_events(Simulator(scenario, scale=0.3, anchor_date=ANCHOR), d)
    b = day_events(Simulator(scenario, seed=7, scale=0.3, anchor_date=ANCHOR), d)
    assert a != b


def test_event_shape_and_ordering(sim):
    d = ANCHOR - timedelta(days=2)
    evs = day_events(sim, d)
    names = Counter(e["event"] for e in evs)
    for name in (
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
        "Stem Separation Used",
    ):
        assert names[name] > 0, name
    times = [e["properties"]["time"] for e in evs]
    assert times == sorted(times)
    t0 = int(utc(d).timestamp())
    assert t0 <= times[0] and times[-1] < t0 + 86400
    for e in evs:
        p = e["properties"]
        assert isinstance(p["time"], int) and isinstance(p["mp_processing_time_ms"], int)
        assert p["mp_processing_time_ms"] >= p["time"] * 1000
        if e["event"] in BILLING_EVENTS:  # server-side: the billing system knows the user, not the device
            assert p["distinct_id"].startswith("u_") and p["mp_lib"] == "python" and p["subscription_id"], e
            continue
        for k in ("distinct_id", "$insert_id", "$os", "$browser", "mp_country_code", "$city", "$device_id"):
            assert p.get(k), (k, e)
        if e["event"] == "Prompt Selected":
            assert {"prompt_id", "prompt_text", "prompt_category"} <= set(p)
        if e["event"] in ("Render Completed", "Render Failed"):
            assert p["duration_s"] > 0
        if e["event"] == "Sign Up":
            assert p["utm_source"] and p["role"] and p["experience_level"] and p["$user_id"] == p["distinct_id"]
    sub = [e for w in range(7) for e in day_events(sim, d - timedelta(days=w)) if e["event"] == "Subscription Started"]
    assert sub and all(e["properties"]["plan"] and e["properties"]["amount"] > 0 for e in sub)
    assert all(e["properties"]["period_start"] < e["properties"]["period_end"] for e in sub)


def test_id_merge_anonymous_then_identified(sim):
    evs = day_events(sim, ANCHOR - timedelta(days=1))
    anon = [e for e in evs if e["properties"]["distinct_id"].startswith("$device:")]
    assert anon
    for e in anon:
        p = e["properties"]
        assert "$user_id" not in p and p["distinct_id"] == "$device:" + p["$device_id"]
    by_device = {e["properties"]["$device_id"] for e in anon}
    signups = [e for e in evs if e["event"] == "Sign Up" and e["properties"]["$device_id"] in by_device]
    assert signups
    for s in signups:
        dev = s["properties"]["$device_id"]
        first_anon = min(e["properties"]["time"] for e in anon if e["properties"]["$device_id"] == dev)
        assert first_anon <= s["properties"]["time"]


def test_insert_ids_unique_except_duplicates(sim):
    evs = day_events(sim, ANCHOR - timedelta(days=4))
    seen = {}
    for e in evs:
        key = e["properties"]["$insert_id"]
        if key in seen:
            assert seen[key] == e  # exact duplicate
        seen[key] = e


def test_profiles(sim):
    as_of = utc(ANCHOR)
    profs = list(sim.profiles(as_of))
    assert profs and len({p["$distinct_id"] for p in profs}) == len(profs)
    p = profs[-1]["$properties"]
    for k in ("$name", "$email", "$created", "role", "experience_level", "utm_source", "platform", "$country_code"):
        assert p[k]
    assert len(list(sim.profiles(as_of - timedelta(days=30)))) < len(profs)
    # every Sign Up user of a day has a profile
    ids = {x["$distinct_id"] for x in profs}
    sign = [
        e["properties"]["distinct_id"] for e in day_events(sim, ANCHOR - timedelta(days=1)) if e["event"] == "Sign Up"
    ]
    assert sign and set(sign) <= ids


def test_write_export_files(sim, tmp_path):
    import gzip

    d = ANCHOR - timedelta(days=2)
    paths = write_export_files(sim, d, d + timedelta(days=1), tmp_path, gzip=False)
    assert [p.name for p in paths] == [f"export-{d}.ndjson", f"export-{d + timedelta(days=1)}.ndjson"]
    lines = paths[0].read_bytes().splitlines()
    assert [orjson.loads(x) for x in lines] == day_events(sim, d)
    gz = write_export_files(sim, d, d, tmp_path / "gz", gzip=True)
    assert gzip.decompress(gz[0].read_bytes()).splitlines() == lines
