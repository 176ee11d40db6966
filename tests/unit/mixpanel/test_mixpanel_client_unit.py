from __future__ import annotations

import base64
import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfoNotFoundError

import httpx
import pytest

from hitcraft_assets.mixpanel.client import (
    CLIENT_VERSION,
    MixpanelClient,
    MixpanelConfig,
    iter_ndjson_lines,
)
from hitcraft_assets.mixpanel.errors import (
    ExportTruncatedError,
    MixpanelAPIError,
    MixpanelConnectionError,
    MixpanelPlanError,
    MixpanelRateLimitError,
    MixpanelServerError,
)
from hitcraft_assets.mixpanel.ratelimit import RateLimiter

SECRET = "s3cr3t-do-not-print"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ChunkStream(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error


def make_client(handler, sleeps: list[float] | None = None, **overrides) -> MixpanelClient:
    config = MixpanelConfig(**{"project_id": "12345", "username": "svc.user", "secret": SECRET, **overrides})
    return MixpanelClient(
        config,
        transport=httpx.MockTransport(handler),
        limiter=RateLimiter.unlimited(),
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
        now=lambda: NOW,
    )


def collect(lines: Iterator[bytes]) -> list[bytes]:
    return list(lines)


# --- config ------------------------------------------------------------------------------------------------


def test_repr_hides_secret():
    config = MixpanelConfig(project_id="1", username="svc", secret=SECRET)
    client = MixpanelClient(config, limiter=RateLimiter.unlimited())
    for text in (repr(config), str(config), repr(client), f"{config}"):
        assert SECRET not in text
        assert "***" in text
    client.close()


@pytest.mark.parametrize(
    ("region", "export_url", "engage_url"),
    [
        (
            "us",
            "https://data.mixpanel.com/api/2.0/export",
            "https://mixpanel.com/api/query/engage",
        ),
        (
            "eu",
            "https://data-eu.mixpanel.com/api/2.0/export",
            "https://eu.mixpanel.com/api/query/engage",
        ),
        (
            "in",
            "https://data-in.mixpanel.com/api/2.0/export",
            "https://in.mixpanel.com/api/query/engage",
        ),
    ],
)
def test_hosts_per_region(region, export_url, engage_url):
    with MixpanelClient(MixpanelConfig("1", "u", "s", region=region), limiter=RateLimiter.unlimited()) as client:
        assert client.export_url == export_url
        assert client.engage_url == engage_url
        assert client.export_host == export_url.split("/")[2]


def test_base_url_overrides_both_hosts():
    config = MixpanelConfig("1", "u", "s", region="eu", api_base_url="http://127.0.0.1:8123/")
    with MixpanelClient(config, limiter=RateLimiter.unlimited()) as client:
        assert client.export_url == "http://127.0.0.1:8123/api/2.0/export"
        assert client.engage_url == "http://127.0.0.1:8123/api/query/engage"
        assert client.export_host == "127.0.0.1:8123"


def test_config_validation():
    with pytest.raises(ValueError):
        MixpanelConfig("1", "u", "s", region="xx")  # type: ignore[arg-type]
    with pytest.raises(ZoneInfoNotFoundError):
        MixpanelConfig("1", "u", "s", project_timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        MixpanelConfig("", "u", "s")
    assert MixpanelConfig("1", "u", "s", project_timezone="Europe/Berlin").export_date_timezone == "UTC"
    legacy = MixpanelConfig("1", "u", "s", project_timezone="Europe/Berlin", legacy_local_time=True)
    assert legacy.export_date_timezone == "Europe/Berlin"


# --- request building -------------------------------------------------------------------------------------


def test_export_request_headers_and_params(caplog):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b'{"event":"a","properties":{}}\n')

    caplog.set_level(logging.DEBUG)
    with make_client(handler) as client:
        out = client.export(
            date(2026, 2, 1),
            date(2026, 2, 2),
            collect,
            event=["Signed Up", "Render"],
            where='properties["x"]==1',
        )
    assert out == [b'{"event":"a","properties":{}}']
    request = seen[0]
    assert request.url.host == "data.mixpanel.com"
    assert request.url.path == "/api/2.0/export"
    params = dict(request.url.params)
    assert params == {
        "project_id": "12345",
        "from_date": "2026-02-01",
        "to_date": "2026-02-02",
        "event": json.dumps(["Signed Up", "Render"]),
        "where": 'properties["x"]==1',
    }
    assert request.headers["accept-encoding"] == "gzip"
    assert request.headers["user-agent"].startswith(f"hitcraft-analytics/{CLIENT_VERSION}")
    expected_auth = "Basic " + base64.b64encode(f"svc.user:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == expected_auth
    assert SECRET not in caplog.text
    assert "attempt=1" in caplog.text and "status=200" in caplog.text


# --- line splitting ----------------------------------------------------------------------------------------

RECORDS = [
    json.dumps(
        {
            "event": f"e{i}",
            "properties": {"time": 1772323200 + i, "text": "ü€" * (i % 5), "n": i},
        }
    ).encode()
    for i in range(50)
]
BODY = b"\n".join(RECORDS) + b"\n"


def awkward_chunks(data: bytes) -> list[bytes]:
    sizes = [1, 2, 3, 5, 7, 11, 13, 64, 1, 1, 200, 4096]
    chunks, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        chunks.append(data[i : i + n])
        i += n
        k += 1
    return chunks


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_iter_lines_any_chunk_size(size):
    chunks = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert list(iter_ndjson_lines(iter(chunks))) == RECORDS


def test_iter_lines_edge_cases():
    assert list(iter_ndjson_lines(iter([b"a\r\n", b"\n", b"  \n", b"b", b"", b"c"]))) == [b"a", b"bc"]
    assert list(iter_ndjson_lines(iter([]))) == []
    assert list(iter_ndjson_lines(iter([b"\n\n\n"]))) == []


@pytest.mark.parametrize(
    "marker",
    [b"export terminated early", b"Export terminated early\n", b"terminated early"],
)
def test_iter_lines_truncation_marker(marker):
    lines = iter_ndjson_lines(iter([RECORDS[0] + b"\n" + marker[:5], marker[5:]]))
    assert next(lines) == RECORDS[0]
    with pytest.raises(ExportTruncatedError):
        next(lines)


def test_json_line_mentioning_terminated_early_is_data():
    line = b'{"event":"x","properties":{"note":"export terminated early"}}'
    assert list(iter_ndjson_lines(iter([line]))) == [line]


def test_export_streams_awkward_gzip_chunks():
    compressed = gzip.compress(BODY)

    def handler(request):
        return httpx.Response(
            200,
            headers={"Content-Encoding": "gzip"},
            stream=ChunkStream(awkward_chunks(compressed)),
        )

    with make_client(handler) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), collect) == RECORDS
        stats = client.last_export_stats
    assert stats.lines == len(RECORDS)
    assert stats.bytes == len(compressed)
    assert stats.decoded_bytes == len(BODY)
    assert stats.content_encoding == "gzip"
    assert stats.attempts == 1


def _gzip_cut_on_a_line_boundary(body: bytes, keep_lines: int) -> bytes:
    """A gzip stream of `body` cut after `keep_lines` lines: everything sent decodes, but no end or trailer."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = b"".join(body.splitlines(keepends=True)[:keep_lines])
    return compressor.compress(head) + compressor.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize(
    "body_of",
    [
        pytest.param(lambda full: _gzip_cut_on_a_line_boundary(BODY, 2), id="no_trailer_on_a_line_boundary"),
        pytest.param(lambda full: full[:-8] + bytes(b ^ 0xFF for b in full[-8:-4]) + full[-4:], id="bad_crc"),
        pytest.param(lambda full: full[:-4] + (len(BODY) + 1).to_bytes(4, "little"), id="bad_length"),
    ],
)
def test_incomplete_gzip_body_is_retried_never_returned(body_of):
    full = gzip.compress(BODY)
    bodies = [body_of(full), full]
    calls: list[list[bytes]] = []

    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=ChunkStream([bodies.pop(0)]))

    def consume(lines):
        calls.append(list(lines))
        return calls[-1]

    with make_client(handler) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), consume) == RECORDS
        assert client.last_export_stats.attempts == 2
    assert len(calls) == 1  # the first attempt raised inside consume: its lines never came back as a result


def test_incomplete_gzip_body_every_time_raises_truncated():
    cut = _gzip_cut_on_a_line_boundary(BODY, 2)

    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=ChunkStream([cut]))

    with make_client(handler, max_retries=1) as client, pytest.raises(ExportTruncatedError, match="truncated"):
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)


def test_body_shorter_than_content_length_is_truncated():
    def handler(request):
        return httpx.Response(200, headers={"Content-Length": str(len(BODY) + 10)}, stream=ChunkStream([BODY]))

    with make_client(handler, max_retries=0) as client, pytest.raises(ExportTruncatedError, match="Content-Length"):
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)


def test_empty_gzip_export_is_empty():
    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=ChunkStream([]))

    with make_client(handler) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), collect) == []


# --- dates -------------------------------------------------------------------------------------------------


def test_export_windows():
    with make_client(lambda r: httpx.Response(200)) as client:
        assert client.export_windows(date(2026, 1, 1), date(2026, 2, 14)) == [
            (date(2026, 1, 1), date(2026, 1, 30)),
            (date(2026, 1, 31), date(2026, 2, 14)),
        ]
        assert client.export_windows(date(2026, 1, 1), date(2026, 1, 1)) == [(date(2026, 1, 1), date(2026, 1, 1))]
        assert len(client.export_windows(date(2026, 1, 1), date(2026, 1, 30))) == 1
        with pytest.raises(ValueError):
            client.export_windows(date(2026, 1, 2), date(2026, 1, 1))
    with make_client(lambda r: httpx.Response(200), window_days=1) as client:
        assert len(client.export_windows(date(2026, 1, 1), date(2026, 1, 10))) == 10


def test_export_rejects_window_longer_than_window_days():
    with (
        make_client(lambda r: httpx.Response(200)) as client,
        pytest.raises(ValueError, match="window_days"),
    ):
        client.export(date(2026, 1, 1), date(2026, 1, 31), collect)


def test_to_date_clamped_to_project_today():
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return httpx.Response(200, content=b"")

    # NOW = 2026-03-01 12:00Z; in Los Angeles (UTC-8) it is 04:00 on 2026-03-01; in Pacific/Kiritimati
    # (UTC+14) it is already 2026-03-02.
    with make_client(handler, project_timezone="America/Los_Angeles") as client:
        client.export(date(2026, 2, 27), date(2026, 3, 5), collect)
        assert seen[-1]["to_date"] == "2026-03-01"
        assert client.last_export_stats.requested_to_date == date(2026, 3, 5)
        with pytest.raises(ValueError, match="after today"):
            client.export(date(2026, 3, 2), date(2026, 3, 2), collect)
    with make_client(handler, project_timezone="Pacific/Kiritimati") as client:
        client.export(date(2026, 3, 2), date(2026, 3, 3), collect)
        assert seen[-1]["to_date"] == "2026-03-02"


# --- errors and retries ------------------------------------------------------------------------------------


def test_400_401_fail_at_once_with_api_text():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(
            400,
            json={
                "request": "/api/2.0/export",
                "error": "to_date cannot be later than today",
            },
        )

    with make_client(handler) as client, pytest.raises(MixpanelAPIError) as info:
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)
    assert info.value.status == 400 and "to_date cannot be later than today" in str(info.value)
    assert len(calls) == 1


def test_402_plan_error():
    client = make_client(lambda r: httpx.Response(402, text="Payment required"))
    with client, pytest.raises(MixpanelPlanError, match="plan does not include"):
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)


def test_429_retry_after_and_5xx_then_success():
    responses = [
        httpx.Response(429, headers={"Retry-After": "37"}, text="rate limited"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(200, content=BODY),
    ]
    sleeps: list[float] = []
    with make_client(lambda r: responses.pop(0), sleeps) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), collect) == RECORDS
        assert client.last_export_stats.attempts == 3
    assert sleeps[0] >= 37
    assert 0 <= sleeps[1] <= 4.0  # full jitter: uniform(0, base * 2**1)


def test_retries_exhausted_reports_attempts():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(500, text="boom")

    with (
        make_client(handler, max_retries=3) as client,
        pytest.raises(MixpanelServerError) as info,
    ):
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)
    assert len(calls) == 4
    assert info.value.attempts == 4 and "after 4 attempts" in str(info.value)


def test_midstream_failure_restarts_consume_cleanly():
    attempts = []

    def handler(request):
        attempts.append(1)
        if len(attempts) == 1:
            return httpx.Response(
                200,
                stream=ChunkStream([BODY[:500]], httpx.ReadError("connection reset")),
            )
        if len(attempts) == 2:
            return httpx.Response(200, stream=ChunkStream([BODY, b"export terminated early\n"]))
        return httpx.Response(200, stream=ChunkStream(awkward_chunks(BODY)))

    sink: list[bytes] = []
    started = []

    def consume(lines):
        sink.clear()
        started.append(1)
        sink.extend(lines)
        return len(sink)

    with make_client(handler) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), consume) == len(RECORDS)
    assert sink == RECORDS and len(started) == 3


def test_connect_error_is_retried_then_raised():
    def handler(request):
        raise httpx.ConnectError("refused")

    with (
        make_client(handler, max_retries=2) as client,
        pytest.raises(MixpanelConnectionError) as info,
    ):
        client.export(date(2026, 2, 1), date(2026, 2, 1), collect)
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_consume_errors_propagate_without_retry():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(200, content=BODY)

    def consume(lines):
        raise KeyError("loader bug")

    with make_client(handler) as client, pytest.raises(KeyError):
        client.export(date(2026, 2, 1), date(2026, 2, 1), consume)
    assert len(calls) == 1


def test_rate_limit_error_carries_retry_after_http_date():
    responses = [
        httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200),
    ]
    with make_client(lambda r: responses.pop(0)) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), collect) == []
    err = MixpanelRateLimitError(429, "x", retry_after=5.0)
    assert err.retryable and err.retry_after == 5.0


# --- engage ------------------------------------------------------------------------------------------------


def test_engage_pagination_and_request_shape():
    profiles = [{"$distinct_id": f"u{i}", "$properties": {"n": i}} for i in range(7)]
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        seen.append((request.method, request.url.path, dict(request.url.params), form))
        page = int(form.get("page", 0))
        return httpx.Response(
            200,
            json={
                "page": page,
                "page_size": 3,
                "session_id": "sess-1",
                "status": "ok",
                "total": 7,
                "results": profiles[page * 3 : page * 3 + 3],
            },
        )

    with make_client(handler) as client:
        got = list(client.engage_profiles(where='properties["plan"]=="pro"', output_properties=["$email", "plan"]))
    assert got == profiles
    assert [s[3].get("page") for s in seen] == [None, "1", "2"]
    method, path, params, form = seen[0]
    assert method == "POST" and path == "/api/query/engage" and params == {"project_id": "12345"}
    assert form["where"] == 'properties["plan"]=="pro"'
    assert json.loads(form["output_properties"]) == ["$email", "plan"]
    assert seen[1][3]["session_id"] == "sess-1"


def test_engage_retries_a_page():
    responses = [
        httpx.Response(502),
        httpx.Response(
            200,
            json={
                "page": 0,
                "page_size": 1000,
                "session_id": "s",
                "results": [{"$distinct_id": "a"}],
            },
        ),
    ]
    sleeps: list[float] = []
    with make_client(lambda r: responses.pop(0), sleeps) as client:
        assert list(client.engage_profiles()) == [{"$distinct_id": "a"}]
    assert len(sleeps) == 1


def test_local_time_to_utc_only_for_legacy_projects():
    with make_client(lambda r: httpx.Response(200)) as client:
        assert client.local_time_to_utc is None
    with make_client(lambda r: httpx.Response(200), project_timezone="Europe/Berlin", legacy_local_time=True) as client:
        convert = client.local_time_to_utc
        assert convert is not None
        assert (
            convert(datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp())
            == datetime(2026, 7, 1, 10, tzinfo=UTC).timestamp()
        )


def test_partial_consume_is_logged(caplog):
    caplog.set_level(logging.WARNING)
    with make_client(lambda r: httpx.Response(200, content=BODY)) as client:
        assert client.export(date(2026, 2, 1), date(2026, 2, 1), lambda lines: next(lines)) == RECORDS[0]
        assert client.last_export_stats.complete is False
    assert "consume stopped before the end" in caplog.text
