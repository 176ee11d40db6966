"""The sample Mixpanel over a real loopback socket (uvicorn, chunked HTTP/1.1): every Fault kind seen by httpx."""

import gzip
import threading
import time
from datetime import UTC, date, datetime

import httpx
import orjson
import pytest

from hitcraft_assets.mixpanel.sample import Fault, SampleMixpanelApp, Simulator, load_scenario, serve_sample_mixpanel

NOW = datetime(2025, 5, 17, 12, tzinfo=UTC)
PARAMS = {"project_id": "sample", "from_date": "2025-05-10", "to_date": "2025-05-10"}


@pytest.fixture(scope="module")
def sim():
    return Simulator(load_scenario(), scale=0.2, anchor_date=date(2025, 5, 15))


@pytest.fixture()
def served(sim):
    app = SampleMixpanelApp(sim, now=NOW)
    with serve_sample_mixpanel(app) as url, httpx.Client(base_url=url, auth=("sample", "sample"), timeout=30) as c:
        yield app, c


def test_normal_export_and_gzip(served, sim):
    _app, c = served
    r = c.get("/api/2.0/export", params=PARAMS)
    assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
    n = len(r.content.splitlines())
    assert n > 1000
    with c.stream("GET", "/api/2.0/export", params=PARAMS, headers={"Accept-Encoding": "gzip"}) as rs:
        assert rs.headers["content-encoding"] == "gzip"
        raw = b"".join(rs.iter_raw())
    assert gzip.decompress(raw) == r.content
    assert c.get("/api/2.0/export", params=PARAMS, auth=("x", "y")).status_code == 401


def test_reset_is_an_error_not_a_clean_end(served):
    app, c = served
    app.add_fault(Fault("reset", after_lines=500))
    got = 0
    with pytest.raises(httpx.TransportError), c.stream("GET", "/api/2.0/export", params=PARAMS) as r:
        for line in r.iter_lines():
            if line:
                orjson.loads(line)
                got += 1
    assert got == 500
    assert app.requests[-1]["lines_sent"] == 500
    # the next request is normal again
    assert c.get("/api/2.0/export", params=PARAMS).status_code == 200


def test_reset_with_gzip(served):
    app, c = served
    app.add_fault(Fault("reset", after_lines=300))
    with pytest.raises(httpx.TransportError):
        c.get("/api/2.0/export", params=PARAMS, headers={"Accept-Encoding": "gzip"})


def test_terminated_early(served):
    app, c = served
    app.add_fault(Fault("terminated_early", after_lines=42))
    r = c.get("/api/2.0/export", params=PARAMS)
    lines = r.content.splitlines()
    assert r.status_code == 200 and len(lines) == 43 and b"terminated early" in lines[-1]


@pytest.mark.parametrize("status, header", [(429, "2"), (402, None), (503, None)])
def test_status_faults(served, status, header):
    app, c = served
    app.add_fault(Fault("status", status=status, retry_after=float(header) if header else None))
    r = c.get("/api/2.0/export", params=PARAMS)
    assert r.status_code == status
    assert r.headers.get("retry-after") == header
    assert "error" in r.json()
    if status == 402:
        assert "plan" in r.json()["error"]


class GatedStall:
    """Stands in for the sample app's `time` module: a stall waits for the test's go instead of a clock, so the
    order of events is checked, not the speed of the machine."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.stalling, self.go = threading.Event(), threading.Event()

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.stalling.set()
        self.go.wait(600)  # only against a hang

    def __getattr__(self, name):
        return getattr(time, name)


def test_slow(served, monkeypatch):
    from hitcraft_assets.mixpanel.sample import app as sample_app

    app, c = served
    stall = GatedStall()
    monkeypatch.setattr(sample_app, "_time", stall)
    app.add_fault(Fault("slow", after_lines=10, retry_after=0.6))
    with c.stream("GET", "/api/2.0/export", params=PARAMS) as r:
        it = r.iter_lines()
        first = [next(it) for _ in range(10)]  # the first lines arrive before the stall ends …
        assert stall.stalling.wait(600)  # … and the server stalls after them (the wait only guards a hang)
        assert stall.asked == [0.6]
        stall.go.set()
        rest = sum(1 for _ in it)
    assert len(first) == 10 and rest > 1000


def test_faults_match_path(served):
    app, c = served
    app.add_fault(Fault("status", status=500, path="/api/query/engage"))
    assert c.get("/api/2.0/export", params=PARAMS).status_code == 200
    assert c.post("/api/query/engage", data={"project_id": "sample"}).status_code == 500
    assert c.post("/api/query/engage", data={"project_id": "sample"}).status_code == 200
