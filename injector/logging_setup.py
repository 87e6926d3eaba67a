"""Log output for the server: one line per event, JSON (for log pipelines) or key=value text (for people).

Structured fields travel in ``extra={"fields": {...}}`` so call sites stay plain ``log.info(...)`` calls and the
formatter, not the caller, decides how they are printed.

Clients control much of what is logged (pod names, paths, error texts) and how often, so:
- control characters never reach the output raw: JSON escapes them, the text format escapes them too and indents
  every continuation line of a traceback, so no client text can forge or split a record;
- a record with ``extra={"rate_limit": key}`` is rate-limited per key (keys are our own words, never client text);
  the next record of that key that passes says how many were dropped (``suppressed=N``);
- aiohttp reports a malformed request at ERROR with a traceback; that is the client's error, not ours, so it is
  turned into one rate-limited warning line. Tracebacks stay for our own bugs.
"""
from __future__ import annotations

import functools
import logging
import re
import ssl
import sys
import time
from typing import Any, Callable

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

RATE_PER_SECOND = 1.0
RATE_BURST = 10

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BARE_TEXT = re.compile(r"[^\s\"=\\\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CLIENT_ERRORS = (HttpProcessingError, web.RequestPayloadError, ConnectionError, ssl.SSLError)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


@functools.lru_cache(maxsize=4)
def _second(epoch_second: int) -> str:
    """The UTC date and time of one second: formatted once per second, not for every record."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_second))


def _timestamp(record: logging.LogRecord) -> str:
    return f"{_second(int(record.created))}.{int(record.msecs):03d}Z"


def escape_controls(text: str) -> str:
    r"""``\n``, ``\t``, ``\x1b``... as visible escapes, so one record stays one line and no terminal control
    sequence passes through."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _timestamp(record), "level": record.levelname.lower(),
                                 "logger": record.name, "msg": record.getMessage()}
        entry.update(_fields(record))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"{_timestamp(record)} {record.levelname.lower():5} {record.name}: "
                f"{escape_controls(record.getMessage())}")
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{escape_controls(str(key))}={_text_value(value)}"
                                   for key, value in fields.items())
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n    {escape_controls(part)}" for part in trace.split("\n"))
        return line


def _text_value(value: Any) -> str:
    if type(value) in (int, float):  # numbers, e.g. latencies: nothing to quote or escape
        return str(value)
    text = str(value)
    if _BARE_TEXT.fullmatch(text):
        return text
    return escape_controls(orjson.dumps(text).decode())


class RateLimit(logging.Filter):
    """Token bucket per ``record.rate_limit`` key: ``burst`` records at once, ``per_second`` on average."""

    def __init__(self, per_second: float = RATE_PER_SECOND, burst: int = RATE_BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._rate = per_second
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, int]] = {}  # key -> (tokens, last refill, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        key = getattr(record, "rate_limit", None)
        if key is None:
            return True
        dropped = self.take(key)
        if dropped is None:
            return False
        if dropped:
            record.fields = {**_fields(record), "suppressed": dropped}
        return True

    def take(self, key: str) -> int | None:
        """Spend a token of ``key``: None when there is none (the record is dropped, and counted), else how many
        records of ``key`` were dropped since the last one that passed."""
        now = self._clock()
        tokens, last, dropped = self._buckets.get(key, (self._burst, now, 0))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now, dropped + 1)
            return None
        self._buckets[key] = (tokens - 1.0, now, 0)
        return dropped


_active_limit: tuple[logging.Handler, RateLimit] | None = None
"""The output handler ``configure`` installed and its rate limit, for ``warn_limited``."""


def use_rate_limit(handler: logging.Handler, limit: RateLimit) -> None:
    """Filter ``handler``'s rate-limited records with ``limit``, and let ``warn_limited`` ask it first."""
    global _active_limit
    handler.addFilter(limit)
    _active_limit = handler, limit


def warn_limited(logger: logging.Logger, msg: str, key: str, fields: Callable[[], dict[str, Any]]) -> None:
    """``logger.warning(msg)`` rate-limited by ``key``, the same line as ``extra={"fields": ..., "rate_limit":
    key}`` gives, but a record the limit would drop is never built: a server refusing thousands of requests a
    second under overload would otherwise make each one's fields and record only to throw them away."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    active = _active_limit
    if active is None or active[0] not in logging.root.handlers:  # not configured here: the handler decides
        logger.warning(msg, extra={"fields": fields(), "rate_limit": key})
        return
    dropped = active[1].take(key)
    if dropped is None:
        return
    record_fields = fields()
    if dropped:
        record_fields["suppressed"] = dropped
    logger.warning(msg, extra={"fields": record_fields})


class ClientErrorsAsWarnings(logging.Filter):
    """For aiohttp's server logger: a request the client got wrong (bad HTTP, bad encoding, a reset) becomes one
    rate-limited warning line without traceback; anything else keeps its ERROR and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, _CLIENT_ERRORS):
            detail = record.getMessage()
            record.msg, record.args = "malformed request", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
            record.fields = {**_fields(record), "detail": detail, "error": f"{type(error).__name__}: {error}"}
            record.rate_limit = f"client-error:{type(error).__name__}"
        return True


def configure(log_format: str = "text", level: str = "info") -> None:
    """Route all logging to stderr in ``log_format``; replaces handlers installed earlier."""
    # No format prints a record's process, thread or source line, which logging would otherwise look up for every
    # record (a getpid call and a walk up the stack each): a measurable share of an admission's CPU.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    logging._srcfile = None  # the documented switch (logging's "Optimization" notes) for the caller lookup
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    use_rate_limit(handler, RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorsAsWarnings) for f in server_log.filters):
        server_log.addFilter(ClientErrorsAsWarnings())
