import gzip
import zlib
from datetime import UTC, date, datetime, timedelta

import httpx
import orjson
import pytest

from hitcraft_assets.mixpanel.sample import Fault, SampleMixpanelApp, Simulator, load_scenario

ANCHOR = date(2025, 5, 15)
NOW = datetime(2025, 5, 15, 12, 0, tzinfo=UTC)
LATER = datetime(2025, 5, 17, 12, 0, tzinfo=UTC)  # every event of DAY has been ingested
DAY = "2025-05-10"


@pytest.fixture(scope="module")
def sim():
    return Simulator(load_scenario(), scale=0.2, anchor_date=ANCHOR)


def client(app, auth=("sample", "sample")):
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://sample-mixpanel", auth=auth)


def export(c, **params):
    base = {"project_id": "sample", "from_date": DAY, "to_date": DAY}
    base.update(params)
    return c.get("/api/2.0/export", params={k: v for k, v in base.items() if v is not None})


def lines(r):
    return [orjson.loads(x) for x in r.content.splitlines() if x]


def test_auth_and_project(sim):
    app = SampleMixpanelApp(sim, now=NOW)
    r = export(client(app, auth=("sample", "wrong")))
    assert r.status_code == 401 and "error" in r.json()
    r = client(app, auth=None).get("/api/2.0/export", params={"project_id": "sample", "from_date": DAY, "to_date": DAY})
    assert r.status_code == 401
    assert export(client(app), project_id=None).status_code == 400
    assert "project_id" in export(client(app), project_id=None).json()["error"]
    assert export(client(app), project_id="999").status_code == 401
    assert export(client(app, auth=("sample", ""))).status_code == 200  # legacy: API secret as user name


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"to_date": "2025-05-16"}, "later than today"),
        ({"from_date": "2025/05/01"}, "yyyy-mm-dd"),
        ({"from_date": "2025-05-12", "to_date": "2025-05-11"}, "after"),
        ({"from_date": None}, "from_date"),
        ({"event": "Sign Up"}, "event"),
        ({"where": 'properties["x"] in ["a"]'}, "where"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_params_are_400(sim, params, fragment):
    r = export(client(SampleMixpanelApp(sim, now=NOW)), **params)
    assert r.status_code == 400 and fragment in r.json()["error"]


def test_to_date_today_in_project_timezone(sim):
    # 2025-05-15 02:00 UTC is still 2025-05-14 in Los Angeles: to_date 2025-05-15 is in the future there
    early = datetime(2025, 5, 15, 2, tzinfo=UTC)
    app = SampleMixpanelApp(sim, now=early, project_timezone="America/Los_Angeles")
    assert export(client(app), from_date="2025-05-14", to_date="2025-05-15").status_code == 400
    assert export(client(app), from_date="2025-05-14", to_date="2025-05-14").status_code == 200


def test_export_matches_simulator_and_filters(sim):
    app = SampleMixpanelApp(sim, now=LATER)
    c = client(app)
    got = lines(export(c))
    s = datetime(2025, 5, 10, tzinfo=UTC)
    assert got == list(sim.events(s, s + timedelta(days=1)))
    only = lines(export(c, event='["Render Completed", "Sign Up"]'))
    assert only and {e["event"] for e in only} == {"Render Completed", "Sign Up"}
    assert len(only) == sum(e["event"] in ("Render Completed", "Sign Up") for e in got)
    w = lines(export(c, where='properties["prompt_id"] == "prd_polish_hit" and event == "Render Started"'))
    assert w and all(e["properties"]["prompt_id"] == "prd_polish_hit" and e["event"] == "Render Started" for e in w)
    assert len(lines(export(c, limit="25"))) == 25
    assert app.requests[0]["status"] == 200 and app.requests[0]["lines_sent"] == len(got)


def test_export_dates_are_utc_for_current_projects_and_local_for_legacy_ones(sim):
    # Mixpanel: from_date/to_date are UTC dates for projects created since 2023, project-local before.
    current = lines(export(client(SampleMixpanelApp(sim, now=NOW, project_timezone="America/New_York"))))
    lo = int(datetime(2025, 5, 10, tzinfo=UTC).timestamp())
    assert current and all(lo <= e["properties"]["time"] < lo + 86400 for e in current)
    legacy_app = SampleMixpanelApp(sim, now=NOW, project_timezone="America/New_York", legacy_local_time=True)
    legacy = lines(export(client(legacy_app)))
    # 2025-05-10 in New York (EDT, UTC-4) = [04:00Z, next 04:00Z), written as local wall-clock seconds
    local_lo = int(datetime(2025, 5, 10, tzinfo=UTC).timestamp())
    assert legacy and all(local_lo <= e["properties"]["time"] < local_lo + 86400 for e in legacy)


def test_legacy_local_time(sim):
    utc_app = SampleMixpanelApp(sim, now=NOW, project_timezone="America/New_York")
    legacy = SampleMixpanelApp(sim, now=NOW, project_timezone="America/New_York", legacy_local_time=True)
    a = {e["properties"]["$insert_id"]: e for e in lines(export(client(utc_app)))}
    b = {e["properties"]["$insert_id"]: e for e in lines(export(client(legacy)))}
    common = a.keys() & b.keys()
    assert len(common) > len(a) // 2  # the two date ranges overlap by 20 of 24 hours
    assert all(b[k]["properties"]["time"] == a[k]["properties"]["time"] - 4 * 3600 for k in common)


def test_gzip_streams(sim):
    app = SampleMixpanelApp(sim, now=LATER)
    c = client(app)
    plain = export(c).content
    with c.stream(
        "GET",
        "/api/2.0/export",
        params={"project_id": "sample", "from_date": DAY, "to_date": DAY},
        headers={"Accept-Encoding": "gzip"},
    ) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw_chunks = list(r.iter_raw())
    assert len(raw_chunks) > 1  # streamed in several pieces, not one body
    assert gzip.decompress(b"".join(raw_chunks)) == plain
    # a streaming decompressor can read the first chunk on its own
    assert zlib.decompressobj(31).decompress(raw_chunks[0]).count(b"\n") > 0


def test_late_events_hidden_until_ingested(sim):
    s = datetime(2025, 5, 10, tzinfo=UTC)
    all_events = list(sim.events(s, s + timedelta(days=1)))
    late = [e for e in all_events if e["properties"]["mp_processing_time_ms"] > (s.timestamp() + 86400 + 3600) * 1000]
    assert late
    early_now = datetime(2025, 5, 11, 1, tzinfo=UTC)
    got = lines(export(client(SampleMixpanelApp(sim, now=early_now))))
    ids = {e["properties"]["$insert_id"] for e in got}
    assert not any(e["properties"]["$insert_id"] in ids for e in late)
    assert len(got) < len(all_events)
    later = lines(export(client(SampleMixpanelApp(sim, now=LATER))))
    assert len(later) == len(all_events)


def test_status_faults_in_process(sim):
    app = SampleMixpanelApp(
        sim, now=NOW, faults=[Fault("status", status=429, retry_after=3), Fault("status", status=402)]
    )
    c = client(app)
    r = export(c)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    r = export(c)
    assert r.status_code == 402 and "plan" in r.json()["error"]
    assert export(c).status_code == 200


def test_terminated_early_in_process(sim):
    app = SampleMixpanelApp(sim, now=NOW, faults=[Fault("terminated_early", after_lines=10)])
    body = export(client(app)).content.splitlines()
    assert len(body) == 11 and body[-1] == b"export terminated early"


def test_reset_in_process_raises(sim):
    app = SampleMixpanelApp(sim, now=NOW, faults=[Fault("reset", after_lines=10)])
    with pytest.raises(ConnectionError):
        export(client(app))


def test_rate_limit(sim):
    app = SampleMixpanelApp(sim, now=NOW, rate_limit_per_second=2)
    c = client(app)
    codes = [export(c, limit="1").status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_engage_pagination(sim):
    app = SampleMixpanelApp(sim, now=NOW, engage_page_size=500)
    c = client(app)
    first = c.post("/api/query/engage", data={"project_id": "sample"}).json()
    assert first["status"] == "ok" and first["page"] == 0 and first["page_size"] == 500
    results, page = list(first["results"]), first
    while len(page["results"]) >= page["page_size"]:
        page = c.get(
            "/api/query/engage",
            params={"project_id": "sample", "session_id": first["session_id"], "page": page["page"] + 1},
        ).json()
        results += page["results"]
    assert len(results) == first["total"] > 500
    assert len({r["$distinct_id"] for r in results}) == len(results)
    assert results == list(sim.profiles(NOW))
    assert (
        c.get("/api/query/engage", params={"project_id": "sample", "session_id": "nope", "page": 1}).status_code == 400
    )
    assert c.get("/api/query/engage").status_code == 400
