"""Issue 13 through the real client and loader: the sample Mixpanel on a loopback port serves poison lines and
truncated gzip bodies; `load_days` must quarantine each bad line (raw bytes and reason) and store the rest of
the day, and must never commit a partial day."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import lru_cache

import pytest
from loader_helpers import checksum

from hitcraft_assets.mixpanel import lines as lines_module
from hitcraft_assets.mixpanel.client import MixpanelClient, MixpanelConfig
from hitcraft_assets.mixpanel.errors import ExportTruncatedError
from hitcraft_assets.mixpanel.ingest import load_days
from hitcraft_assets.mixpanel.ratelimit import RateLimiter

sample = pytest.importorskip("hitcraft_assets.mixpanel.sample")
Fault = sample.Fault

ANCHOR = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 2, 26)
T = int(datetime(2026, 2, 26, 12, 0, tzinfo=UTC).timestamp())  # a time inside DAY


@lru_cache(maxsize=1)
def _simulator():
    return sample.Simulator(sample.load_scenario(), anchor_date=ANCHOR, scale=0.25)


def make_app(**kwargs):
    return sample.SampleMixpanelApp(
        _simulator(), project_id="sample", username="sample", secret="sample", now=NOW, **kwargs
    )


@contextlib.contextmanager
def loopback(app, **config) -> Iterator[MixpanelClient]:
    """The real client on the sample Mixpanel served over HTTP on a loopback port."""
    with sample.serve_sample_mixpanel(app) as base_url:
        cfg = MixpanelConfig(
            project_id="sample",
            username="sample",
            secret="sample",
            api_base_url=base_url,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            **config,
        )
        with MixpanelClient(cfg, limiter=RateLimiter.unlimited(), sleep=lambda s: None, now=lambda: NOW) as client:
            yield client


def load_day(conn, app, **config):
    with loopback(app, **config) as client:
        (window,) = load_days(
            conn, client, [DAY], reporting_tz="UTC", source="sample", client_version="test", project_today=NOW.date()
        )
    return window


def export_statuses(app) -> list[int]:
    return [r["status"] for r in app.requests if r["path"].endswith("/api/2.0/export")]


def quarantine(conn) -> list[tuple[str, bytes, date | None]]:
    with conn.cursor() as cur:
        cur.execute("select reason, raw_line, partition_date from raw.events_quarantine order by line_number")
        rows = [(reason, bytes(raw), day) for reason, raw, day in cur.fetchall()]
    conn.rollback()
    return rows


@pytest.fixture(scope="module")
def clean_rows() -> int:
    """Rows of DAY in the sample (the simulator is deterministic), counted through the client."""
    app = make_app()
    with loopback(app) as client:
        return client.export(DAY, DAY, lambda lines: sum(1 for _ in lines))


def _poison(props: str) -> bytes:
    return b'{"event":"Poison","properties":{"time":%d,"distinct_id":"p",%s}}' % (T, props.encode())


DEEP = 2000
POISON = {
    # reason: lines that must be quarantined byte for byte with that reason
    "too_deeply_nested": [
        _poison('"deep":' + "[" * DEEP + "]" * DEEP),  # orjson refuses > 1024 levels; json.loads recursed
        _poison('"deep":' + '{"a":' * 600 + "1" + "}" * 600),  # orjson parses it, cannot dump it
    ],
    "non_finite_number": [
        _poison('"x":NaN'),  # was stored as null
        _poison('"x":[1,-Infinity]'),
        _poison('"x":Infinity,"big":123456789012345678901234567890'),
    ],
    "number_out_of_range": [
        _poison('"x":1e400'),  # was stored as null
        _poison('"x":-2.5E-400'),  # was stored as 0.0
        _poison('"x":' + "7" * 5000),
    ],
    "invalid_utf8": [
        _poison('"x":"caf\xe9"').replace(b"\xc3\xa9", b"\xe9"),  # Latin-1 byte
        _poison('"x":"a"').replace(b'"a"', b'"\xed\xa0\xbd"'),  # an encoded lone surrogate (CESU-8)
    ],
    "unstorable_json": [_poison('"x":"\\ud83d"')],  # a lone surrogate escape
    "nul_character": [
        _poison('"x\\u0000":1'),  # in a key
        b'{"event":"Po\\u0000ison","properties":{"time":%d}}' % T,  # in the event name (a text column)
    ],
    "invalid_id": [
        _poison('"distinct_id":{"id":1}').replace(b'"distinct_id":"p",', b""),
        _poison('"$insert_id":true'),
        _poison('"$insert_id":1.5'),
    ],
    "invalid_json": [b'{"event":"Poison","properties":{"time":%d,"x":"\x00"}}' % T],  # a raw NUL byte
    "line_too_large": [_poison('"x":"' + "a" * (16 << 20) + '"')],
}
STORED = [
    # storable as they are: each must be stored unchanged, not quarantined
    _poison('"$insert_id":"bigint","x":123456789012345678901234567890'),  # was rounded to a double
    _poison('"$insert_id":"neg","x":-98765432109876543210'),
    b"\xef\xbb\xbf" + _poison('"$insert_id":"bom","x":1'),  # a leading BOM is not data (RFC 8259, 8.1)
    _poison('"$insert_id":"text","x":"\\\\u0000 and 1e-400"'),  # an escaped backslash: text, not U+0000
    _poison('"$insert_id":"uuid","x":"481f4180-c54e-4361-ac35-c575121342f5"'),
    _poison('"$insert_id":7,"x":1e-300'),  # an integer insert_id; a small but representable number
]


def test_poison_lines_are_quarantined_and_the_rest_of_the_day_loads(conn, clean_rows):
    clean = load_day(conn, make_app())
    assert clean.rows_by_day == {DAY: clean_rows} and not clean.quarantine_reasons
    clean_sum = checksum(conn, DAY, DAY)

    bad = [line for lines in POISON.values() for line in lines]
    injected = [(i * 7, line) for i, line in enumerate(bad + STORED)]  # spread through the body
    app = make_app(inject_lines=injected)
    window = load_day(conn, app)

    assert window.rows_by_day == {DAY: clean_rows + len(STORED)}
    assert window.quarantine_reasons == {reason: len(lines) for reason, lines in POISON.items()}
    stored_bad = quarantine(conn)
    expected = sorted((reason, line) for reason, lines in POISON.items() for line in lines)
    assert sorted((reason, raw) for reason, raw, _ in stored_bad) == expected  # byte for byte, with the reason
    with conn.cursor() as cur:
        cur.execute("select insert_id, properties->'x' #>> '{}' from raw.events where event = 'Poison'")
        stored = dict(cur.fetchall())
        cur.execute("select (properties->>'x')::float8 from raw.events where insert_id = '7'")
        (small,) = cur.fetchone()
    conn.rollback()
    assert stored == {
        "bigint": "123456789012345678901234567890",  # every digit, never rounded
        "neg": "-98765432109876543210",
        "bom": "1",
        "text": "\\u0000 and 1e-400",
        "uuid": "481f4180-c54e-4361-ac35-c575121342f5",
        "7": stored["7"],
    }
    assert small == 1e-300

    # the rest of the day is exactly the clean day
    with conn.cursor() as cur:
        cur.execute("delete from raw.events where event = 'Poison'")
    conn.commit()
    assert checksum(conn, DAY, DAY) == clean_sum

    # a re-run gives the same result (dated quarantine rows are replaced, not added)
    again = load_day(conn, make_app(inject_lines=injected))
    assert again.rows_by_day == window.rows_by_day and again.quarantine_reasons == window.quarantine_reasons
    dated = [q for q in quarantine(conn) if q[2] is not None]
    assert len(dated) == len([q for q in stored_bad if q[2] is not None])


def test_a_row_only_postgres_refuses_is_found_and_quarantined(conn, clean_rows, monkeypatch):
    """A class of bad line the parser does not know (simulated: its U+0000 check switched off) makes the
    streamed COPY fail; the loader exports again, bisects, quarantines that line and stores the rest."""
    monkeypatch.setattr(lines_module, "has_nul_escape", lambda line: False)
    bad = _poison('"x":"nul \\u0000 here"')
    app = make_app(inject_lines=[(100, bad)])
    window = load_day(conn, app)
    assert window.rows_by_day == {DAY: clean_rows}
    assert window.quarantine_reasons == {"rejected_by_postgres": 1}
    ((reason, raw, day),) = quarantine(conn)
    assert (reason, raw, day) == ("rejected_by_postgres", bad, DAY)
    assert export_statuses(app) == [200, 200]  # the streamed attempt, then the row-by-row one
    with conn.cursor() as cur:
        cur.execute("select detail from raw.events_quarantine")
        assert "\\u0000" in cur.fetchone()[0]  # PostgreSQL's own message
        cur.execute("select count(*) from raw.events where event = 'Poison'")
        assert cur.fetchone()[0] == 0
    conn.rollback()


@pytest.mark.parametrize("cut", ["line_boundary", "mid_line"])
@pytest.mark.parametrize("at", [0.6, 0.97])
def test_truncated_gzip_body_is_retried_never_a_partial_day(conn, clean_rows, cut, at):
    after = int(clean_rows * at)
    app = make_app(faults=[Fault(kind="truncated", after_lines=after, cut=cut)])
    window = load_day(conn, app)
    assert export_statuses(app) == [200, 200]  # the cut body was retried
    assert window.attempts == 2
    assert window.rows_by_day == {DAY: clean_rows}
    assert not window.quarantine_reasons  # a cut line is not an invalid line: it is a truncated response
    assert checksum(conn, DAY, DAY)[0] == clean_rows


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "truncated", "cut": "line_boundary"},
        {"kind": "truncated", "cut": "mid_line"},
        {"kind": "bad_gzip_trailer"},
    ],
    ids=["line_boundary", "mid_line", "bad_crc"],
)
def test_truncated_every_time_fails_leaving_the_previous_day(conn, clean_rows, fault):
    load_day(conn, make_app())
    before = checksum(conn, DAY, DAY)
    assert before[0] == clean_rows
    app = make_app(faults=[Fault(**fault, after_lines=clean_rows // 2) for _ in range(3)])
    with pytest.raises(ExportTruncatedError):
        load_day(conn, app, max_retries=2)
    assert export_statuses(app) == [200, 200, 200]
    assert checksum(conn, DAY, DAY) == before  # the previous contents, not a partial day
