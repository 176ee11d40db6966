"""Answers of the read-only API resources, kept until the warehouse's data changes.

The data changes once a day (the pipeline's run) and a growth team asks the same questions many times, so an
answer is computed once per data version (`store.app_readers.data_version`, looked up at most every
`VERSION_CHECK_S` seconds) and served from memory until the data moves or `MAX_AGE_S` passes. The permission
dependencies run before a cached handler, so an answer is only ever served to a caller allowed to see it; the
answers of these resources do not depend on who asks. CSV answers are not cached (each export is audited).
Concurrent requests for an answer being computed wait for it instead of computing it again. An API call gets the
answer's JSON encoding, also kept: encoding a long list (the insight library) costs more than looking it up."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

VERSION_CHECK_S = 1.0
MAX_AGE_S = 300.0
MAX_ENTRIES = 512


class ResponseCache:
    """Answers by (data version, handler, arguments), least recently used out first."""

    def __init__(self, url: str, max_entries: int = MAX_ENTRIES):
        self.url = url
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}
        self._version: tuple[float, str] = (float("-inf"), "")
        self.hits = self.misses = 0

    def version(self) -> str:
        checked_at, version = self._version
        now = time.monotonic()
        if now - checked_at < VERSION_CHECK_S:
            return version
        from hitcraft_assets.store import app_readers

        version = app_readers.data_version(self.url)
        self._version = (now, version)
        return version

    def get_or_compute(self, key: tuple, compute: Callable[[], Any]) -> Any:
        key = (self.version(), *key)
        body = self._fresh(key)
        if body is not None:
            return body
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        try:
            with gate:  # one computation per answer; the others wait for it
                body = self._fresh(key)
                if body is None:
                    body = compute()
                    with self._lock:
                        self.misses += 1
                        self._entries[key] = (time.monotonic(), body)
                        while len(self._entries) > self.max_entries:
                            self._entries.popitem(last=False)
        finally:
            with self._lock:
                self._computing.pop(key, None)
        return body

    def _fresh(self, key: tuple) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or time.monotonic() - entry[0] > MAX_AGE_S:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]


def cached(handler: Callable) -> Callable:
    """Memoize a read-only resource handler by its arguments (all but `request`) and the data version. FastAPI and
    the dashboard pages call the same wrapper and get the same object back, which callers only read. A CSV answer
    (`format=csv` or Accept: text/csv) is computed every time, so every export is audited. FastAPI reads the
    handler's own signature (functools.wraps)."""
    signature = inspect.signature(handler)

    @functools.wraps(handler)
    def answer(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        request: Request = arguments.pop("request")
        if arguments.get("format") == "csv" or "text/csv" in request.headers.get("accept", ""):
            return handler(*args, **kwargs)
        key = (handler.__module__, handler.__qualname__, repr(sorted(arguments.items())))
        cache: ResponseCache = request.app.state.response_cache
        if not request.url.path.startswith("/api/"):  # a dashboard page reads the answer itself
            return cache.get_or_compute(key, lambda: handler(*args, **kwargs))

        def encoded() -> bytes:  # exactly what FastAPI would send for the answer
            return JSONResponse(jsonable_encoder(cache.get_or_compute(key, lambda: handler(*args, **kwargs)))).body

        return Response(cache.get_or_compute((*key, "json"), encoded), media_type="application/json")

    return answer
