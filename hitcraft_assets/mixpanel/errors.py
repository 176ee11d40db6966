"""Exceptions raised by the Mixpanel client.

Every exception carries `retryable` (the client backs off and retries those) and `attempts` (set on the
exception that finally escapes the client: how many requests were made for that call).
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime


class MixpanelError(Exception):
    """Base class of every Mixpanel client error."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.attempts: int | None = None

    def __str__(self) -> str:
        if self.attempts and self.attempts > 1:
            return f"{self.message} (gave up after {self.attempts} attempts)"
        return self.message


class MixpanelAPIError(MixpanelError):
    """Mixpanel answered with an HTTP error; `message` is the API's own error text."""

    def __init__(self, status: int, message: str, *, url: str | None = None) -> None:
        self.status = status
        self.api_message = message
        self.url = url
        where = f" for {url}" if url else ""
        super().__init__(f"Mixpanel API returned HTTP {status}{where}: {message}")


class MixpanelAuthError(MixpanelAPIError):
    """401/403: the service account's username/secret are wrong or lack access to the project."""


class MixpanelPlanError(MixpanelAPIError):
    """402: the project's Mixpanel plan does not include raw data export. Never retried."""

    def __init__(self, status: int, message: str, *, url: str | None = None) -> None:
        super().__init__(status, message, url=url)
        self.message = (
            f"Mixpanel returned HTTP 402 (Payment Required): this project's Mixpanel plan does not include "
            f"access to the Raw Event Export / Query API. Upgrade the plan or ask Mixpanel support to enable "
            f"raw data export for the project; retrying will not help. API text: {message}"
        )


class MixpanelRateLimitError(MixpanelAPIError):
    """429: Mixpanel's rate limit (60 queries/hour, 3/s, 100 concurrent) was hit. Retried, honouring Retry-After."""

    retryable = True

    def __init__(
        self,
        status: int,
        message: str,
        *,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, url=url)
        self.retry_after = retry_after


class MixpanelServerError(MixpanelAPIError):
    """5xx (or 408): a transient Mixpanel-side failure. Retried."""

    retryable = True


class MixpanelConnectionError(MixpanelError):
    """The connection failed or broke mid-stream (the original httpx error is `__cause__`). Retried."""

    retryable = True


class ExportTruncatedError(MixpanelError):
    """The export body is incomplete: Mixpanel's `export terminated early` line, a gzip stream without its end
    or with a CRC/length mismatch, or fewer bytes than Content-Length. Retried; never taken as the export."""

    retryable = True


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, MixpanelError) and exc.retryable


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def api_message(body: bytes) -> str:
    """The API's error text: the `error` field of a JSON body (Mixpanel's shape), else the body text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:1000] or "(empty response body)"
    if isinstance(payload, dict):
        for key in ("error", "message", "detail"):
            if payload.get(key):
                return str(payload[key])[:1000]
    return text[:1000]


def error_for_status(
    status: int, body: bytes, retry_after: str | None = None, *, url: str | None = None
) -> MixpanelAPIError:
    """The exception for a non-200 answer: 402 plan, 401/403 auth, 429 rate limit, 5xx/408 server, else API."""
    message = api_message(body)
    if status == 402:
        return MixpanelPlanError(status, message, url=url)
    if status in (401, 403):
        return MixpanelAuthError(status, message, url=url)
    if status == 429:
        return MixpanelRateLimitError(status, message, url=url, retry_after=parse_retry_after(retry_after))
    if status >= 500 or status == 408:
        return MixpanelServerError(status, message, url=url)
    return MixpanelAPIError(status, message, url=url)
