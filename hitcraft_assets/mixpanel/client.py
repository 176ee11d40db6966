"""Mixpanel Raw Event Export and Engage (profile query) API client.

* Export: `GET https://data[-eu|-in].mixpanel.com/api/2.0/export` — NDJSON streamed line by line (never held
  in memory), gzip on the wire, windows of at most `window_days`, `to_date` clamped to "today".
* Engage: `POST https://[eu.|in.]mixpanel.com/api/query/engage` — paginated with session_id/page.
* Service-account Basic auth plus the required `project_id` parameter; one rate limiter (60/h, 3/s by
  default) shared by both APIs; retries with exponential backoff and full jitter on 429 (Retry-After
  honoured), 5xx, connection errors and `export terminated early` streams; 400/401/402/403 fail at once.
* A truncated 200 body is retried like a broken connection, never taken as the whole export: a gzip stream
  without its end (final block and CRC/length trailer), a CRC or length mismatch, or a body whose length
  differs from Content-Length (`ExportTruncatedError`). The gzip body is decoded here, not by httpx, whose
  decoder accepts a gzip stream cut anywhere (even where the NDJSON lines happen to end cleanly).

JQL is not supported on purpose: Mixpanel keeps it in maintenance mode; the export API is the source of truth.
"""

from __future__ import annotations

import json
import logging
import random
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from typing import Literal, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import (
    ExportTruncatedError,
    MixpanelAPIError,
    MixpanelConnectionError,
    MixpanelError,
    MixpanelServerError,
    error_for_status,
    is_retryable,
)
from .ratelimit import RateLimiter, shared_limiter
from .timezones import as_zone, legacy_time_converter, project_today

__all__ = [
    "CLIENT_VERSION",
    "USER_AGENT",
    "ExportStats",
    "MixpanelClient",
    "MixpanelConfig",
    "iter_ndjson_lines",
]

try:
    CLIENT_VERSION = metadata.version("hitcraft-analytics")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    CLIENT_VERSION = "0.1.0"
USER_AGENT = f"hitcraft-analytics/{CLIENT_VERSION} (+mixpanel-export-client; python-httpx/{httpx.__version__})"

EXPORT_PATH = "/api/2.0/export"
ENGAGE_PATH = "/api/query/engage"
EXPORT_HOSTS = {
    "us": "https://data.mixpanel.com",
    "eu": "https://data-eu.mixpanel.com",
    "in": "https://data-in.mixpanel.com",
}
QUERY_HOSTS = {
    "us": "https://mixpanel.com",
    "eu": "https://eu.mixpanel.com",
    "in": "https://in.mixpanel.com",
}
TRUNCATION_MARKER = b"terminated early"  # Mixpanel ends a cut-off 200 body with the line "export terminated early"
_ERROR_BODY_LIMIT = 64 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class MixpanelConfig:
    """Connection settings for one Mixpanel project. `repr()` never shows the secret."""

    project_id: str
    username: str
    secret: str = field(repr=False)
    region: Literal["us", "eu", "in"] = "us"
    project_timezone: str = "UTC"
    legacy_local_time: bool = False
    api_base_url: str | None = None  # overrides both hosts (sample Mixpanel, proxies)
    window_days: int = 30
    queries_per_hour: int = 60  # <= 0: no hourly client-side limit
    queries_per_second: float = 3.0  # <= 0: no per-second client-side limit
    max_retries: int = 6  # retries after the first attempt: at most max_retries + 1 requests per call
    backoff_base_s: float = 2.0
    backoff_max_s: float = 120.0
    timeout_s: float = 600.0  # read timeout between bytes of a stream

    def __post_init__(self) -> None:
        if self.region not in EXPORT_HOSTS:
            raise ValueError(f"region must be one of us, eu, in (got {self.region!r})")
        if not str(self.project_id).strip():
            raise ValueError("project_id is required (service accounts must name the project)")
        as_zone(self.project_timezone)  # raises ZoneInfoNotFoundError for a bad name
        if self.window_days < 1:
            raise ValueError(f"window_days must be >= 1 (got {self.window_days})")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0 (got {self.max_retries})")

    def __repr__(self) -> str:
        return (
            f"MixpanelConfig(project_id={self.project_id!r}, username={self.username!r}, secret='***', "
            f"region={self.region!r}, project_timezone={self.project_timezone!r}, "
            f"legacy_local_time={self.legacy_local_time!r}, api_base_url={self.api_base_url!r})"
        )

    __str__ = __repr__

    @property
    def export_base_url(self) -> str:
        return (self.api_base_url or EXPORT_HOSTS[self.region]).rstrip("/")

    @property
    def query_base_url(self) -> str:
        return (self.api_base_url or QUERY_HOSTS[self.region]).rstrip("/")

    @property
    def export_date_timezone(self) -> str:
        """The zone Mixpanel reads `from_date`/`to_date` in: the project zone for legacy projects, else UTC."""
        return self.project_timezone if self.legacy_local_time else "UTC"


@dataclass
class ExportStats:
    """What one `export()` call took (`client.last_export_stats`)."""

    from_date: date
    to_date: date  # as sent, after clamping
    requested_to_date: date
    attempts: int = 0
    bytes: int = 0  # bytes on the wire (compressed) of the successful attempt
    decoded_bytes: int = 0
    lines: int = 0
    seconds: float = 0.0
    status: int | None = None
    content_encoding: str | None = None
    total_bytes: int = 0  # over all attempts, including failed ones
    complete: bool = False  # consume read the stream to its end (so truncation was checked)
    retry_delays: list[float] = field(default_factory=list)


def iter_ndjson_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a stream of byte chunks into lines (without the newline, `\\r` stripped, empty lines skipped).

    Records may be split across chunks at any byte. Raises `ExportTruncatedError` on Mixpanel's
    `export terminated early` line (a non-JSON line containing "terminated early"), which is never data.
    """
    pending: list[bytes] = []

    def emit(line: bytes) -> bytes | None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line or line.isspace():
            return None
        if not line.lstrip().startswith((b"{", b"[")) and TRUNCATION_MARKER in line.lower():
            text = line.decode("utf-8", "replace").strip()[:200]
            raise ExportTruncatedError(f"Mixpanel ended the export stream early: {text!r}")
        return line

    for chunk in chunks:
        if not chunk:
            continue
        newline = chunk.find(b"\n")
        if newline < 0:
            pending.append(chunk)
            continue
        if pending:
            pending.append(chunk[:newline])
            head = b"".join(pending)
            pending.clear()
        else:
            head = chunk[:newline]
        if (line := emit(head)) is not None:
            yield line
        rest = chunk[newline + 1 :].split(b"\n")
        tail = rest.pop()
        for piece in rest:
            if (line := emit(piece)) is not None:
                yield line
        if tail:
            pending.append(tail)
    if pending and (line := emit(b"".join(pending))) is not None:
        yield line


def gunzip_complete(raw: Iterator[bytes]) -> Iterator[bytes]:
    """Decode a gzip body (concatenated members allowed), raising `ExportTruncatedError` unless it ends with a
    complete member whose CRC-32 and length check out. A body of zero bytes is an empty export."""
    decoder = zlib.decompressobj(wbits=31)
    received = False
    try:
        for chunk in raw:
            received = received or bool(chunk)
            while chunk:
                if decoder.eof:  # the next member of a multi-member stream
                    decoder = zlib.decompressobj(wbits=31)
                data = decoder.decompress(chunk)
                if data:
                    yield data
                chunk = decoder.unused_data if decoder.eof else b""
    except zlib.error as exc:  # CRC or length mismatch, corrupt deflate data
        raise ExportTruncatedError(f"corrupt gzip export stream ({exc}): truncated or damaged response") from exc
    if received and not decoder.eof:
        raise ExportTruncatedError(
            "gzip export stream ended before its end (no final block / CRC and length trailer): truncated response"
        )


_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


class MixpanelClient:
    """Export and Engage client for one project. Thread-safe for concurrent calls; use as a context manager."""

    def __init__(
        self,
        config: MixpanelConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        now: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.limiter = limiter or shared_limiter(
            f"{config.export_base_url}|{config.project_id}", config.queries_per_hour, config.queries_per_second
        )
        self._sleep = sleep
        self._log = logger or logging.getLogger(__name__)
        self._now = now or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            transport=transport,
            auth=httpx.BasicAuth(config.username, config.secret),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
            timeout=httpx.Timeout(config.timeout_s, connect=min(30.0, config.timeout_s)),
            follow_redirects=False,
        )
        self.last_export_stats: ExportStats | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MixpanelClient({self.config!r})"

    @property
    def export_host(self) -> str:
        """Host name of the export endpoint (for load metadata), e.g. "data.mixpanel.com"."""
        return urlsplit(self.config.export_base_url).netloc

    @property
    def local_time_to_utc(self) -> Callable[[float], float] | None:
        """For legacy projects, a fast converter of the exported `time` (project-local seconds) to a UTC epoch."""
        return legacy_time_converter(self.config.project_timezone) if self.config.legacy_local_time else None

    @property
    def export_url(self) -> str:
        return self.config.export_base_url + EXPORT_PATH

    @property
    def engage_url(self) -> str:
        return self.config.query_base_url + ENGAGE_PATH

    # -- dates -----------------------------------------------------------------------------------------------
    def project_today(self) -> date:
        """Today in the project time zone (the date Mixpanel checks `to_date` against)."""
        return project_today(self.config.project_timezone, self._now())

    def latest_exportable_date(self, from_date: date) -> date:
        """The last `to_date` that may be sent for an export starting at `from_date`: today in the project
        time zone (Mixpanel answers HTTP 400 to a later `to_date`).

        Raises ValueError when `from_date` is after today in the project time zone.
        """
        limit = self.project_today()
        if from_date > limit:
            raise ValueError(
                f"from_date {from_date.isoformat()} is after today ({limit.isoformat()}) in the Mixpanel project "
                f"time zone {self.config.project_timezone}; Mixpanel cannot export future dates"
            )
        return limit

    def export_windows(self, from_date: date, to_date: date) -> list[tuple[date, date]]:
        """Split the inclusive range into consecutive windows of at most `window_days` days."""
        if to_date < from_date:
            raise ValueError(f"to_date {to_date.isoformat()} is before from_date {from_date.isoformat()}")
        step = timedelta(days=self.config.window_days)
        windows: list[tuple[date, date]] = []
        start = from_date
        while start <= to_date:
            end = min(start + step - timedelta(days=1), to_date)
            windows.append((start, end))
            start = end + timedelta(days=1)
        return windows

    # -- export ----------------------------------------------------------------------------------------------
    def export(
        self,
        from_date: date,
        to_date: date,
        consume: Callable[[Iterator[bytes]], T],
        *,
        event: list[str] | None = None,
        where: str | None = None,
    ) -> T:
        """Export one window (at most `window_days` days, else ValueError) and return `consume(lines)`.

        Each attempt opens a fresh stream and calls `consume` with an iterator of raw NDJSON lines (bytes, no
        newline). If iterating raises a retryable error (connection lost, 429/5xx, `export terminated early`)
        the exception propagates through `consume` (which must undo its partial work and must not swallow
        it); the client backs off and calls `consume` again with a new iterator. `consume` should exhaust
        the iterator: the truncation marker can only be detected at the end of the stream.
        """
        if to_date < from_date:
            raise ValueError(f"to_date {to_date.isoformat()} is before from_date {from_date.isoformat()}")
        span = (to_date - from_date).days + 1
        if span > self.config.window_days:
            raise ValueError(
                f"export window {from_date}..{to_date} is {span} days; at most window_days="
                f"{self.config.window_days} per call (use export_windows())"
            )
        sent_to = min(to_date, self.latest_exportable_date(from_date))
        if sent_to < to_date:
            self._log.info("mixpanel export: to_date %s clamped to %s (project today)", to_date, sent_to)
        params: dict[str, str] = {
            "project_id": str(self.config.project_id),
            "from_date": from_date.isoformat(),
            "to_date": sent_to.isoformat(),
        }
        if event:
            params["event"] = json.dumps(list(event))
        if where:
            params["where"] = where
        stats = ExportStats(from_date=from_date, to_date=sent_to, requested_to_date=to_date)
        self.last_export_stats = stats
        label = f"export {from_date}..{sent_to}"
        started = time.monotonic()

        def attempt(n: int) -> T:
            stats.attempts = n
            t0 = time.monotonic()
            with self._http.stream("GET", self.export_url, params=params) as response:
                self._raise_for_status(response, label, n, t0)
                stats.status = response.status_code
                stats.content_encoding = response.headers.get("content-encoding")
                stats.bytes = stats.decoded_bytes = stats.lines = 0
                lines = self._counted_lines(response, stats)
                try:
                    result = consume(lines)
                    if not stats.complete:
                        self._log.warning("mixpanel %s: consume stopped before the end of the stream", label)
                finally:
                    stats.total_bytes += response.num_bytes_downloaded
                    stats.bytes = response.num_bytes_downloaded
                    self._log.info(
                        "mixpanel %s attempt=%d status=%d bytes=%d lines=%d elapsed=%.2fs",
                        label,
                        n,
                        response.status_code,
                        stats.bytes,
                        stats.lines,
                        time.monotonic() - t0,
                    )
            return result

        try:
            return self._with_retries(label, attempt, stats.retry_delays)
        finally:
            stats.seconds = time.monotonic() - started

    def _counted_lines(self, response: httpx.Response, stats: ExportStats) -> Iterator[bytes]:
        def chunks() -> Iterator[bytes]:
            encoding = response.headers.get("content-encoding", "").strip().lower()
            streamed = not response.is_stream_consumed  # False: read and decoded already (in-memory transports)
            if streamed and encoding in ("gzip", "x-gzip"):
                body = gunzip_complete(response.iter_raw())
            else:
                body = response.iter_bytes()
            for chunk in body:
                stats.decoded_bytes += len(chunk)
                yield chunk
            declared = response.headers.get("content-length", "").strip()
            if streamed and declared.isdigit() and int(declared) != response.num_bytes_downloaded:
                raise ExportTruncatedError(
                    f"export body has {response.num_bytes_downloaded} bytes but Content-Length says {declared}: "
                    "truncated response"
                )

        stats.complete = False
        try:
            for line in iter_ndjson_lines(chunks()):
                stats.lines += 1
                yield line
            stats.complete = True
        except (*_RETRYABLE_TRANSPORT, ConnectionError) as exc:  # ConnectionError: in-process (WSGI) transports
            raise MixpanelConnectionError(f"connection lost during export stream: {exc!r}") from exc
        except httpx.DecodingError as exc:
            raise MixpanelConnectionError(f"corrupt (truncated?) compressed export stream: {exc!r}") from exc

    # -- engage ----------------------------------------------------------------------------------------------
    def engage_profiles(
        self, *, where: str | None = None, output_properties: list[str] | None = None
    ) -> Iterator[dict]:
        """Yield every profile (`{"$distinct_id": ..., "$properties": {...}}`) matching `where`.

        Pages with session_id/page until a page shorter than `page_size`; each page goes through the same
        rate limiter and retry policy as exports.
        """
        form: dict[str, str] = {}
        if where:
            form["where"] = where
        if output_properties:
            form["output_properties"] = json.dumps(list(output_properties))
        page = 0
        session_id: str | None = None
        while True:
            data = dict(form)
            if session_id is not None:
                data["session_id"] = session_id
                data["page"] = str(page)
            label = f"engage page={page}"
            payload = self._with_retries(label, lambda n, data=data, label=label: self._engage_page(data, label, n))
            results = payload.get("results") or []
            yield from results
            page_size = int(payload.get("page_size") or 1000)
            session_id = payload.get("session_id")
            if len(results) < page_size or not session_id:
                return
            page = int(payload.get("page", page)) + 1

    def _engage_page(self, data: dict[str, str], label: str, n: int) -> dict:
        t0 = time.monotonic()
        try:
            response = self._http.post(self.engage_url, params={"project_id": str(self.config.project_id)}, data=data)
        except _RETRYABLE_TRANSPORT as exc:
            raise MixpanelConnectionError(f"engage request failed: {exc!r}") from exc
        self._raise_for_status(response, label, n, t0)
        try:
            payload = response.json()
        except ValueError as exc:
            raise MixpanelServerError(
                response.status_code, f"engage returned non-JSON body: {response.text[:200]!r}"
            ) from exc
        if not isinstance(payload, dict):
            raise MixpanelServerError(response.status_code, "engage returned an unexpected JSON shape")
        if payload.get("status") not in (None, "ok"):
            raise MixpanelAPIError(response.status_code, str(payload.get("error") or payload.get("status")))
        self._log.info(
            "mixpanel %s attempt=%d status=%d bytes=%d profiles=%d elapsed=%.2fs",
            label,
            n,
            response.status_code,
            response.num_bytes_downloaded,
            len(payload.get("results") or []),
            time.monotonic() - t0,
        )
        return payload

    # -- shared machinery ------------------------------------------------------------------------------------
    def _raise_for_status(self, response: httpx.Response, label: str, attempt: int, t0: float) -> None:
        if response.status_code == 200:
            return
        body = b""
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except (httpx.TransportError, httpx.DecodingError):
            pass
        url = str(response.request.url.copy_with(query=None))
        error = error_for_status(response.status_code, body, response.headers.get("retry-after"), url=url)
        self._log.warning(
            "mixpanel %s attempt=%d status=%d bytes=%d elapsed=%.2fs error=%s",
            label,
            attempt,
            response.status_code,
            len(body),
            time.monotonic() - t0,
            error.api_message[:300],
        )
        raise error

    def backoff_delay(self, retry: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based): full jitter, at least Retry-After on 429."""
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * (2 ** (retry - 1)))
        delay = self._rng.uniform(0, cap)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay

    def _with_retries(self, label: str, attempt_fn: Callable[[int], T], delays: list[float] | None = None) -> T:
        attempts_allowed = self.config.max_retries + 1
        n = 0
        while True:
            n += 1
            self.limiter.acquire()
            try:
                return attempt_fn(n)
            except _RETRYABLE_TRANSPORT as exc:  # raised while connecting / sending
                error: MixpanelError = MixpanelConnectionError(f"request failed: {exc!r}")
                error.__cause__ = exc
            except MixpanelError as exc:
                if not is_retryable(exc):
                    exc.attempts = n
                    raise
                error = exc
            if n >= attempts_allowed:
                error.attempts = n
                self._log.error("mixpanel %s failed after %d attempts: %s", label, n, error.message)
                raise error
            delay = self.backoff_delay(n, error)
            if delays is not None:
                delays.append(delay)
            self._log.warning(
                "mixpanel %s attempt=%d failed (%s); retrying in %.1fs", label, n, error.message[:300], delay
            )
            self._sleep(delay)
