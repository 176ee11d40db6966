"""SampleMixpanelApp: a WSGI app speaking Mixpanel's Raw Event Export and Engage APIs over the simulator.

Endpoints
- `GET /api/2.0/export` — params `project_id` (required), `from_date`, `to_date` (inclusive, yyyy-mm-dd, project
  time zone), optional `event` (JSON array of names), `where` (subset, see `wherexpr`), `limit` (<= 100000).
  Streams NDJSON (gzip when `Accept-Encoding: gzip`), never building the whole body.
- `GET|POST /api/query/engage` — params `project_id`, optional `session_id` + `page`, `distinct_id`;
  `where` and other selectors are accepted and ignored. Pages of `engage_page_size` until a short page.

Auth is HTTP Basic `username:secret` (service account); `secret` alone as the user name with an empty password
(legacy project-secret auth) is accepted too. Errors are JSON `{"request": ..., "error": ...}` with
Mixpanel's status codes (400 bad params, 401 auth, 402 plan, 429 rate limit with Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import collections
import threading
import time as _time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import orjson

from .simulator import Simulator
from .wherexpr import WhereError, compile_where

__all__ = ["TRUNCATION_LINE", "Fault", "SampleMixpanelApp"]

TRUNCATION_LINE = b"export terminated early\n"  # what Mixpanel appends to a cut-off 200 export body
EXPORT_PATH = "/api/2.0/export"
ENGAGE_PATH = "/api/query/engage"
MAX_LIMIT = 100_000
CHUNK_BYTES = 64 * 1024
STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
FAULT_MESSAGES = {
    402: "Your plan does not allow API calls. Upgrade at mixpanel.com/pricing",
    429: "Query rate limit exceeded. Please wait and retry.",
    500: "Internal server error. Please try again later.",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
}


class ConnectionReset(ConnectionResetError):
    """Raised inside the response body to abort the connection (Fault kind 'reset')."""


@dataclass
class Fault:
    """A fault injected into the next request to `path` (faults are consumed in order, one per request).

    kind "status": respond with `status` and Mixpanel's error body (`body` overrides it); 429 carries
    `Retry-After: <retry_after>` when set. "reset": send `after_lines` lines then abort the connection.
    "terminated_early": send `after_lines` lines, then Mixpanel's `export terminated early` line, status 200.
    "slow": send `after_lines` lines, then stall `retry_after` seconds (default 1.0), then continue normally.
    "truncated": a 200 body whose HTTP framing ends cleanly but whose content stops after `after_lines` lines
    (at the end of the body when it has fewer): `cut="line_boundary"` stops right after a newline,
    `cut="mid_line"` in the middle of the next line. With gzip the deflate data is sync-flushed (every byte
    sent decodes) but the gzip stream has no end (no final block, no CRC/length trailer); without gzip nothing
    on the wire shows the cut. "bad_gzip_trailer": the whole body, but the gzip trailer's CRC is wrong.
    """

    kind: Literal["status", "reset", "terminated_early", "slow", "truncated", "bad_gzip_trailer"]
    status: int | None = None
    retry_after: float | None = None
    after_lines: int = 0
    path: str = EXPORT_PATH
    body: str | None = None
    cut: Literal["line_boundary", "mid_line"] = "line_boundary"

    def __post_init__(self) -> None:
        if self.kind not in ("status", "reset", "terminated_early", "slow", "truncated", "bad_gzip_trailer"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind == "status" and not self.status:
            raise ValueError("a 'status' fault needs status=")
        if self.cut not in ("line_boundary", "mid_line"):
            raise ValueError(f"unknown cut {self.cut!r}")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or []


def _parse_day(value: str | None, name: str) -> date:
    if not value:
        raise _HTTPError(400, f"'{name}' is a required parameter")
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise _HTTPError(400, f"'{name}' is not in the format yyyy-mm-dd: {value!r}") from None


class SampleMixpanelApp:
    def __init__(
        self,
        simulator: Simulator | None = None,
        *,
        project_id: str | int = "sample",
        username: str = "sample",
        secret: str = "sample",
        project_timezone: str = "UTC",
        legacy_local_time: bool = False,
        now: Callable[[], datetime] | datetime | None = None,
        faults: list[Fault] | None = None,
        rate_limit_per_second: float | None = None,
        engage_page_size: int = 1000,
        inject_lines: list[tuple[int, bytes]] | None = None,
    ):
        """`inject_lines`: (n, line) pairs: every export body carries `line` (bytes, no newline) right after its
        n-th simulated line (at the end when it has fewer), e.g. to serve malformed lines; not consumed."""
        if simulator is None:
            from .scenario import load_scenario

            simulator = Simulator(load_scenario())
        self.simulator = simulator
        self.project_id = str(project_id)
        self.username, self.secret = username, secret
        self.tz = ZoneInfo(project_timezone)
        self.project_timezone = project_timezone
        self.legacy_local_time = legacy_local_time
        self._now = now
        self.faults: list[Fault] = list(faults or [])
        self.rate_limit_per_second = rate_limit_per_second
        self.engage_page_size = int(engage_page_size)
        self.inject_lines = sorted(inject_lines or [], key=lambda pair: pair[0])
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._recent: collections.deque[float] = collections.deque()
        self._engage_sessions: collections.OrderedDict[str, list[dict]] = collections.OrderedDict()

    # ------------------------------------------------------------------------------------------ helpers
    def now(self) -> datetime:
        n = self._now() if callable(self._now) else self._now
        n = n or datetime.now(UTC)
        if n.tzinfo is None:
            raise ValueError("SampleMixpanelApp.now must be timezone-aware")
        return n

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.path == path:
                    return self.faults.pop(i)
        return None

    def _rate_limited(self) -> bool:
        if not self.rate_limit_per_second:
            return False
        now = _time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit_per_second:
                return True
            self._recent.append(now)
        return False

    def _check_auth(self, environ: dict) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            raise _HTTPError(401, "Unable to authenticate request")
        try:
            user, _, pw = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _HTTPError(401, "Unable to authenticate request") from None
        if not ((user == self.username and pw == self.secret) or (user == self.secret and pw == "")):
            raise _HTTPError(401, "Invalid username or secret")

    def _check_project(self, params: dict[str, str]) -> None:
        pid = params.get("project_id")
        if not pid:
            raise _HTTPError(400, "'project_id' is a required parameter when authenticating with a service account")
        if pid != self.project_id:
            raise _HTTPError(401, f"service account does not have access to project {pid}")

    # ------------------------------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path.endswith("/") and len(path) > 1:
            path = path[:-1]
        qs = environ.get("QUERY_STRING", "")
        params = {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = environ["wsgi.input"].read(length) if length else b""
            ctype = environ.get("CONTENT_TYPE", "")
            if body and ("x-www-form-urlencoded" in ctype or not ctype):
                params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
        record = {"path": path, "params": dict(params), "status": None, "lines_sent": 0}
        with self._lock:
            self.requests.append(record)
        request_label = path + ("?" + qs if qs else "")
        try:
            if path not in (EXPORT_PATH, ENGAGE_PATH):
                raise _HTTPError(404, "Not found")
            if path == EXPORT_PATH and method != "GET":
                raise _HTTPError(405, "Method not allowed")
            if path == ENGAGE_PATH and method not in ("GET", "POST"):
                raise _HTTPError(405, "Method not allowed")
            self._check_auth(environ)
            if self._rate_limited():
                raise _HTTPError(429, FAULT_MESSAGES[429], [("Retry-After", "1")])
            fault = self._take_fault(path)
            if fault is not None and fault.kind == "status":
                headers = []
                if fault.retry_after is not None:
                    headers.append(("Retry-After", f"{fault.retry_after:g}"))
                raise _HTTPError(fault.status, fault.body or FAULT_MESSAGES.get(fault.status, "error"), headers)
            self._check_project(params)
            if path == ENGAGE_PATH:
                return self._engage(params, record, start_response)
            return self._export(environ, params, record, fault, start_response)
        except _HTTPError as e:
            record["status"] = e.status
            body = orjson.dumps({"request": request_label, "error": e.message})
            start_response(
                f"{e.status} {STATUS_TEXT.get(e.status, 'Error')}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + e.headers,
            )
            return [body]

    # ------------------------------------------------------------------------------------------ export
    def _export(self, environ, params, record, fault, start_response) -> Iterable[bytes]:
        d0 = _parse_day(params.get("from_date"), "from_date")
        d1 = _parse_day(params.get("to_date"), "to_date")
        if d0 > d1:
            raise _HTTPError(400, f"'from_date' {d0} is after 'to_date' {d1}")
        now = self.now()
        today = now.astimezone(self.tz).date()
        if d1 > today:
            raise _HTTPError(
                400,
                f"to_date cannot be later than today ({today.isoformat()}) in the project's "
                f"time zone ({self.project_timezone}): {d1.isoformat()}",
            )
        events_filter = None
        if params.get("event"):
            try:
                names = orjson.loads(params["event"])
            except orjson.JSONDecodeError:
                names = None
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                raise _HTTPError(400, "'event' must be a JSON-encoded array of event names")
            events_filter = frozenset(names)
        where = None
        if params.get("where"):
            try:
                where = compile_where(params["where"])
            except WhereError as e:
                raise _HTTPError(400, f"invalid 'where' expression: {e}") from None
        limit = None
        if params.get("limit"):
            try:
                limit = int(params["limit"])
            except ValueError:
                raise _HTTPError(400, "'limit' must be an integer") from None
            if not 0 < limit <= MAX_LIMIT:
                raise _HTTPError(400, f"'limit' must be between 1 and {MAX_LIMIT}")
        # Like Mixpanel: from_date/to_date are UTC dates for projects created since 2023 and project-local
        # dates for legacy ones (docs.mixpanel.com, export methods); "today" is checked in the project zone.
        date_tz = self.tz if self.legacy_local_time else UTC
        start = datetime(d0.year, d0.month, d0.day, tzinfo=date_tz).astimezone(UTC)
        end_local = d1 + timedelta(days=1)
        end = datetime(end_local.year, end_local.month, end_local.day, tzinfo=date_tz).astimezone(UTC)
        now_ms = int(now.timestamp() * 1000)
        gz = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "").lower()
        headers = [("Content-Type", "application/x-ndjson; charset=utf-8")]
        if gz:
            headers.append(("Content-Encoding", "gzip"))
        record["status"] = 200
        start_response("200 OK", headers)
        lines = self._lines(start, end, now_ms, events_filter, where, limit)
        if self.inject_lines:
            lines = _with_injected(lines, self.inject_lines)
        return _Body(self._framed(lines, record, fault, gz))

    def _lines(self, start, end, now_ms, events_filter, where, limit) -> Iterator[bytes]:
        dumps = orjson.dumps
        opt = orjson.OPT_APPEND_NEWLINE
        legacy = self.legacy_local_time
        tz = self.tz
        offsets: dict[int, int] = {}
        sent = 0
        for ev in self.simulator.events(start, end):
            p = ev["properties"]
            if p["mp_processing_time_ms"] > now_ms:
                continue  # not ingested yet
            if events_filter is not None and ev["event"] not in events_filter:
                continue
            if where is not None and not where(ev):
                continue
            if legacy:
                t = p["time"]
                h = t // 3600
                off = offsets.get(h)
                if off is None:
                    off = offsets[h] = int(datetime.fromtimestamp(h * 3600, tz).utcoffset().total_seconds())
                p["time"] = t + off
            yield dumps(ev, option=opt)
            sent += 1
            if limit is not None and sent >= limit:
                return

    def _framed(self, lines: Iterator[bytes], record: dict, fault: Fault | None, gz: bool) -> Iterator[bytes]:
        comp = zlib.compressobj(1, zlib.DEFLATED, 31) if gz else None  # fast: the simulator must outpace ingestion
        buf: list[bytes] = []
        size = 0
        count = 0
        trigger = fault.after_lines if fault is not None and fault.kind not in ("status", "bad_gzip_trailer") else None
        bad_trailer = fault is not None and fault.kind == "bad_gzip_trailer"

        def out(chunk: bytes) -> bytes:
            return comp.compress(chunk) if comp is not None else chunk

        def flush_buf() -> bytes:
            nonlocal buf, size
            data = b"".join(buf)
            buf, size = [], 0
            if comp is not None:
                return comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
            return data

        def at_trigger() -> Iterator[bytes]:
            if fault.kind == "truncated" and fault.cut == "mid_line":
                following = next(lines, None)
                if following is not None:
                    buf.append(following[: max(1, len(following) // 2)])
            data = flush_buf()  # gzip: sync-flushed, so everything sent decodes
            if data:
                yield data
            if fault.kind == "truncated":
                return  # ends the body: no final deflate block, no gzip trailer
            if fault.kind == "reset":
                raise ConnectionReset("sample Mixpanel: connection reset (injected fault)")
            if fault.kind == "terminated_early":
                yield out(TRUNCATION_LINE) + (comp.flush() if comp is not None else b"")
                return
            _time.sleep(fault.retry_after if fault.retry_after is not None else 1.0)

        if trigger == 0:
            yield from at_trigger()
            if fault.kind in ("terminated_early", "truncated"):
                return
        for line in lines:
            buf.append(line)
            size += len(line)
            count += 1
            record["lines_sent"] = count
            if trigger is not None and count == trigger:
                yield from at_trigger()
                if fault.kind in ("terminated_early", "truncated"):
                    return
                trigger = None
                continue
            if size >= CHUNK_BYTES:
                data = flush_buf()  # gzip: sync-flushed, so every chunk is decodable as it arrives
                if data:
                    yield data
        if trigger is not None:  # fewer lines than after_lines: apply the fault at the end
            yield from at_trigger()
            if fault.kind in ("terminated_early", "truncated"):
                return
        tail = b"".join(buf)
        if comp is not None:
            tail = comp.compress(tail) + comp.flush()
            if bad_trailer:  # gzip trailer: CRC-32 then length, little-endian; flip the CRC's bits
                tail = tail[:-8] + bytes(b ^ 0xFF for b in tail[-8:-4]) + tail[-4:]
        if tail:
            yield tail

    # ------------------------------------------------------------------------------------------ engage
    def _engage(self, params, record, start_response) -> Iterable[bytes]:
        sid = params.get("session_id") or ""
        try:
            page = int(params.get("page") or 0)
        except ValueError:
            raise _HTTPError(400, "'page' must be an integer") from None
        if page < 0:
            raise _HTTPError(400, "'page' must be >= 0")
        with self._lock:
            profiles = self._engage_sessions.get(sid) if sid else None
        if sid and profiles is None:
            raise _HTTPError(400, f"unknown or expired session_id {sid!r}")
        if profiles is None:
            if page != 0:
                raise _HTTPError(400, "'session_id' is required for page > 0")
            profiles = list(self.simulator.profiles(self.now()))
            sid = uuid.uuid4().hex
            with self._lock:
                self._engage_sessions[sid] = profiles
                while len(self._engage_sessions) > 16:
                    self._engage_sessions.popitem(last=False)
        selected = profiles
        if params.get("distinct_id"):
            selected = [p for p in profiles if p["$distinct_id"] == params["distinct_id"]]
        elif params.get("distinct_ids"):
            try:
                wanted = set(orjson.loads(params["distinct_ids"]))
            except (orjson.JSONDecodeError, TypeError):
                raise _HTTPError(400, "'distinct_ids' must be a JSON array") from None
            selected = [p for p in profiles if p["$distinct_id"] in wanted]
        ps = self.engage_page_size
        results = selected[page * ps : (page + 1) * ps]
        body = orjson.dumps(
            {
                "page": page,
                "page_size": ps,
                "session_id": sid,
                "status": "ok",
                "total": len(selected),
                "results": results,
                "computed_at": self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        record["status"] = 200
        record["lines_sent"] = len(results)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _with_injected(lines: Iterator[bytes], injected: list[tuple[int, bytes]]) -> Iterator[bytes]:
    pending = list(injected)
    count = 0
    for line in lines:
        yield line
        count += 1
        while pending and pending[0][0] <= count:
            yield pending.pop(0)[1] + b"\n"
    for _, line in pending:
        yield line + b"\n"


class _Body:
    """WSGI response iterable with close() so an abandoned stream stops generating."""

    def __init__(self, it: Iterator[bytes]):
        self._it = it

    def __iter__(self) -> Iterator[bytes]:
        return self._it

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
