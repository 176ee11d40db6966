"""The Mixpanel client against the sample Mixpanel served on a real loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import orjson
import pytest

from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
from hitcraft_assets.mixpanel.errors import (
    ExportTruncatedError,
    MixpanelAPIError,
    MixpanelAuthError,
    MixpanelPlanError,
    MixpanelServerError,
)
from hitcraft_assets.mixpanel.ratelimit import RateLimiter
from hitcraft_assets.mixpanel.timezones import legacy_local_seconds_to_utc

sample = pytest.importorskip("hitcraft_assets.mixpanel.sample")
Fault = sample.Fault

ANCHOR = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 2, 26)


@lru_cache(maxsize=1)
def _scenario():
    return sample.load_scenario()


@lru_cache(maxsize=8)
def _simulator(anchor: date, scale: float):
    """Simulators are deterministic and thread-safe: share them between apps to keep the suite fast."""
    return sample.Simulator(_scenario(), anchor_date=anchor, scale=scale)


def make_app(*, anchor: date = ANCHOR, now: datetime = NOW, scale: float = 0.25, **kwargs):
    params = {"project_id": "sample", "username": "sample", "secret": "sample", "now": now, **kwargs}
    return sample.SampleMixpanelApp(_simulator(anchor, scale), **params)


@contextlib.contextmanager
def serve(app, *, now: datetime = NOW, sleeps: list[float] | None = None, **config) -> Iterator[MixpanelClient]:
    with sample.serve_sample_mixpanel(app) as base_url:
        cfg = MixpanelConfig(
            **{
                "project_id": "sample",
                "username": "sample",
                "secret": "sample",
                "api_base_url": base_url,
                "backoff_base_s": 0.01,
                "backoff_max_s": 0.05,
                **config,
            }
        )
        sink = sleeps if sleeps is not None else []
        with MixpanelClient(cfg, limiter=RateLimiter.unlimited(), sleep=sink.append, now=lambda: now) as client:
            yield client


def export_requests(app) -> list[dict]:
    return [r for r in app.requests if r["path"].endswith("/api/2.0/export")]


def collecting_consume(sink: list[bytes], starts: list[int] | None = None):
    def consume(lines):
        sink.clear()  # a retried attempt restarts cleanly
        if starts is not None:
            starts.append(1)
        sink.extend(lines)
        return len(sink)

    return consume


def clean_export(from_date: date = DAY, to_date: date = DAY, **app_kwargs) -> list[bytes]:
    app = make_app(**app_kwargs)
    lines: list[bytes] = []
    with serve(app) as client:
        client.export(from_date, to_date, collecting_consume(lines))
    return lines


@pytest.fixture(scope="module")
def clean_day() -> list[bytes]:
    lines = clean_export()
    assert lines, "the sample Mixpanel should have events on the test day"
    return lines


# --- happy path ---------------------------------------------------------------------------------------------


def test_export_one_day_gzip(clean_day):
    app = make_app()
    lines: list[bytes] = []
    with serve(app) as client:
        n = client.export(DAY, DAY, collecting_consume(lines))
        stats = client.last_export_stats
    assert n == len(lines) == len(clean_day)
    assert lines == clean_day
    for line in lines[:50]:
        record = orjson.loads(line)
        assert "event" in record and "time" in record["properties"]
    assert stats.attempts == 1 and stats.lines == len(lines)
    assert stats.content_encoding == "gzip"
    assert 0 < stats.bytes < stats.decoded_bytes  # compressed on the wire
    assert [r["status"] for r in app.requests] == [200]
    params = app.requests[0]["params"]
    assert params["project_id"] == "sample"
    assert params["from_date"] == params["to_date"] == DAY.isoformat()


# --- errors -------------------------------------------------------------------------------------------------


def test_auth_failure_raises_at_once():
    app = make_app()
    with serve(app, secret="wrong") as client, pytest.raises(MixpanelAuthError) as info:
        client.export(DAY, DAY, list)
    assert info.value.status == 401
    assert info.value.api_message
    assert len(app.requests) == 1
    assert "wrong" not in str(info.value)


def test_400_carries_api_text():
    app = make_app(faults=[Fault(kind="status", status=400)])
    with serve(app) as client, pytest.raises(MixpanelAPIError) as info:
        client.export(DAY, DAY, list)
    assert info.value.status == 400
    assert info.value.api_message and info.value.api_message in str(info.value)
    assert len(app.requests) == 1


def test_402_explains_plan():
    app = make_app(faults=[Fault(kind="status", status=402)])
    with (
        serve(app) as client,
        pytest.raises(MixpanelPlanError, match="plan does not include"),
    ):
        client.export(DAY, DAY, list)
    assert len(app.requests) == 1


def test_429_honours_retry_after(clean_day):
    app = make_app(faults=[Fault(kind="status", status=429, retry_after=7)])
    sleeps: list[float] = []
    lines: list[bytes] = []
    with serve(app, sleeps=sleeps) as client:
        client.export(DAY, DAY, collecting_consume(lines))
        assert client.last_export_stats.attempts == 2
    assert sleeps and sleeps[0] >= 7
    assert [r["status"] for r in export_requests(app)] == [429, 200]
    assert lines == clean_day


def test_5xx_then_success(clean_day):
    app = make_app(faults=[Fault(kind="status", status=503), Fault(kind="status", status=500)])
    lines: list[bytes] = []
    with serve(app) as client:
        client.export(DAY, DAY, collecting_consume(lines))
    assert [r["status"] for r in export_requests(app)] == [503, 500, 200]
    assert lines == clean_day


def test_retries_exhausted_report_attempts():
    app = make_app(faults=[Fault(kind="status", status=500) for _ in range(5)])
    with (
        serve(app, max_retries=2) as client,
        pytest.raises(MixpanelServerError) as info,
    ):
        client.export(DAY, DAY, list)
    assert info.value.attempts == 3 and "3 attempts" in str(info.value)
    assert len(export_requests(app)) == 3


def test_reset_mid_stream_restarts_without_duplicates(clean_day):
    app = make_app(faults=[Fault(kind="reset", after_lines=min(100, len(clean_day) // 2))])
    lines: list[bytes] = []
    starts: list[int] = []
    with serve(app) as client:
        client.export(DAY, DAY, collecting_consume(lines, starts))
        assert client.last_export_stats.attempts == 2
    assert len(starts) == 2
    assert lines == clean_day
    assert len(export_requests(app)) == 2


def test_terminated_early_is_retried_never_data(clean_day):
    app = make_app(faults=[Fault(kind="terminated_early", after_lines=min(50, len(clean_day) // 2))])
    lines: list[bytes] = []
    with serve(app) as client:
        client.export(DAY, DAY, collecting_consume(lines))
    assert lines == clean_day
    assert not any(b"terminated early" in line for line in lines)
    assert len(export_requests(app)) == 2


def test_terminated_early_every_time_raises():
    app = make_app(faults=[Fault(kind="terminated_early", after_lines=5) for _ in range(3)])
    with (
        serve(app, max_retries=2) as client,
        pytest.raises(ExportTruncatedError) as info,
    ):
        client.export(DAY, DAY, list)
    assert info.value.attempts == 3


# --- dates --------------------------------------------------------------------------------------------------


def test_45_day_range_is_split_into_two_windows():
    app = make_app(scale=0.05)
    start, end = date(2026, 1, 15), date(2026, 2, 28)
    total = 0
    with serve(app) as client:
        windows = client.export_windows(start, end)
        assert len(windows) == 2
        for lo, hi in windows:
            total += client.export(lo, hi, lambda lines: sum(1 for _ in lines))
    sent = [
        (
            date.fromisoformat(r["params"]["from_date"]),
            date.fromisoformat(r["params"]["to_date"]),
        )
        for r in export_requests(app)
    ]
    assert sent == windows
    assert all((hi - lo).days + 1 <= 30 for lo, hi in sent)
    assert sent[0][0] == start and sent[-1][1] == end
    assert sent[1][0] == sent[0][1] + timedelta(days=1)
    assert total > 0


def test_to_date_clamped_to_project_today_near_midnight():
    # 07:30 UTC on 2 March is 23:30 on 1 March in Los Angeles: "today" there is still 1 March.
    now = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    app = make_app(anchor=date(2026, 3, 2), now=now, project_timezone="America/Los_Angeles")
    with serve(app, now=now, project_timezone="America/Los_Angeles") as client:
        client.export(date(2026, 2, 28), date(2026, 3, 2), lambda lines: sum(1 for _ in lines))
        assert client.last_export_stats.to_date == date(2026, 3, 1)
        with pytest.raises(ValueError, match="after today"):
            client.export(date(2026, 3, 2), date(2026, 3, 2), list)
    requests = export_requests(app)
    assert len(requests) == 1  # the future-only window was never sent
    assert requests[0]["params"]["to_date"] == "2026-03-01"
    assert requests[0]["status"] == 200


def test_legacy_local_time_conversion_matches_utc_export():
    # NY springs forward on 2026-03-08: the exported days straddle the transition.
    tz = "America/New_York"
    anchor = date(2026, 3, 10)
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    days = (date(2026, 3, 7), date(2026, 3, 9))

    def export(legacy: bool) -> dict[str, float]:
        app = make_app(anchor=anchor, now=now, project_timezone=tz, legacy_local_time=legacy)
        with serve(app, now=now, project_timezone=tz, legacy_local_time=legacy) as client:
            lines = client.export(*days, list)
        out = {}
        for line in lines:
            props = orjson.loads(line)["properties"]
            out[f"{props.get('$insert_id')}|{props.get('distinct_id')}"] = props["time"]
        return out

    utc_times = export(False)
    legacy_times = export(True)
    common = utc_times.keys() & legacy_times.keys()
    assert len(common) > 100
    mismatched = [
        key for key in common if abs(legacy_local_seconds_to_utc(legacy_times[key], tz) - utc_times[key]) > 1e-3
    ]
    assert not mismatched, f"{len(mismatched)} of {len(common)} legacy times convert wrongly, e.g. {mismatched[:3]}"
    # and the raw legacy values really were local (i.e. differ from UTC by the offset)
    key = next(iter(common))
    assert legacy_times[key] != utc_times[key]


# --- engage -------------------------------------------------------------------------------------------------


def test_engage_pagination_returns_every_profile_once():
    app = make_app(engage_page_size=25, scale=0.03)
    with serve(app) as client:
        profiles = list(client.engage_profiles())
    ids = [p["$distinct_id"] for p in profiles]
    assert len(ids) > 25
    assert len(ids) == len(set(ids))
    engage = [r for r in app.requests if r["path"].endswith("/api/query/engage")]
    assert len(engage) == len(ids) // 25 + 1
    app_all = make_app(engage_page_size=100_000, scale=0.03)
    with serve(app_all) as client:
        assert {p["$distinct_id"] for p in client.engage_profiles()} == set(ids)


def test_engage_shares_limiter_and_retries():
    app = make_app(
        engage_page_size=50,
        faults=[Fault(kind="status", status=502, path="/api/query/engage")],
    )
    with serve(app) as client:
        limiter = client.limiter
        profiles = list(client.engage_profiles())
        client.export(DAY, DAY, lambda lines: sum(1 for _ in lines))
    engage = [r for r in app.requests if r["path"].endswith("/api/query/engage")]
    assert engage[0]["status"] == 502
    assert profiles
    assert limiter.acquired == len(app.requests)


def test_in_process_wsgi_transport(clean_day):
    """The platform reaches the sample in-process through httpx.WSGITransport: same client, same faults."""
    import httpx

    app = make_app(faults=[Fault(kind="reset", after_lines=10), Fault(kind="terminated_early", after_lines=10)])
    config = MixpanelConfig(
        project_id="sample", username="sample", secret="sample", api_base_url="http://sample-mixpanel"
    )
    lines: list[bytes] = []
    with MixpanelClient(
        config,
        transport=httpx.WSGITransport(app=app),
        limiter=RateLimiter.unlimited(),
        sleep=lambda s: None,
        now=lambda: NOW,
    ) as client:
        client.export(DAY, DAY, collecting_consume(lines))
        assert client.last_export_stats.attempts == 3
        assert client.export_host == "sample-mixpanel"
    assert lines == clean_day
