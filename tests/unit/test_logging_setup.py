"""Log records: control characters escaped in both formats, rate limiting per key, aiohttp's client errors as
single warning lines."""
from __future__ import annotations

import logging
import sys

import orjson
import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from injector import logging_setup
from injector.logging_setup import ClientErrorsAsWarnings, JsonFormatter, RateLimit, TextFormatter, warn_limited

HOSTILE = "a\x00b\x1b[31mc\nd\te\x7ff\x9bg\u2028h"


def _record(msg: str = "msg", *, fields: dict | None = None, exc: BaseException | None = None,
            level: int = logging.WARNING, name: str = "test") -> logging.LogRecord:
    exc_info = None
    if exc is not None:
        try:
            raise exc
        except BaseException:  # noqa: BLE001 - capture the traceback
            exc_info = sys.exc_info()
    record = logging.LogRecord(name, level, __file__, 1, msg, (), exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_text_format_escapes_control_characters_in_message_and_fields() -> None:
    line = TextFormatter().format(_record(HOSTILE, fields={"pod": HOSTILE, "plain": "ok", "empty": ""}))
    assert "\n" not in line and "\x00" not in line and "\x1b" not in line and "\x9b" not in line
    assert "a\\x00b\\x1b[31mc\\nd\\te\\x7ff\\x9bg\\u2028h" in line
    assert 'pod="a\\u0000b\\u001b[31mc\\nd\\te\\x7ff\\x9bg\\u2028h"' in line
    assert " plain=ok " in line and 'empty=""' in line


def test_times_are_utc_with_milliseconds_across_second_boundaries() -> None:
    stamps = []
    for second, msecs in ((1767225599, 998.0), (1767225600, 1.5), (1767225599, 500.0)):  # around 2026, then back
        record = _record(fields={"latency_ms": 1.25, "count": 3, "ratio": float("nan")})
        record.created, record.msecs = second + msecs / 1000, msecs
        stamps.append(JsonFormatter().format(record))
        line = TextFormatter().format(record)
        assert line.endswith(" latency_ms=1.25 count=3 ratio=nan")
        assert line.split(" ", 1)[0] == orjson.loads(stamps[-1])["time"]
    assert [orjson.loads(s)["time"] for s in stamps] == [
        "2025-12-31T23:59:59.998Z", "2026-01-01T00:00:00.001Z", "2025-12-31T23:59:59.500Z"]


def test_text_format_indents_every_traceback_line() -> None:
    line = TextFormatter().format(_record(exc=ValueError("boom\n2026-01-01T00:00:00.000Z error forged")))
    first, *rest = line.split("\n")
    assert first.endswith("test: msg")
    assert rest and all(part.startswith("    ") for part in rest)
    assert any("forged" in part for part in rest)


def test_json_format_is_one_line_with_escapes() -> None:
    line = JsonFormatter().format(_record(HOSTILE, fields={"pod": HOSTILE}, exc=KeyError("x")))
    assert "\n" not in line and "\x00" not in line and "\x1b" not in line
    entry = orjson.loads(line)
    assert entry["msg"] == HOSTILE and entry["pod"] == HOSTILE and "KeyError" in entry["error"]


def test_rate_limit_passes_a_burst_then_one_per_second_and_reports_the_dropped() -> None:
    now = [0.0]
    limit = RateLimit(per_second=1.0, burst=3, clock=lambda: now[0])

    def passes(key: str | None = "k") -> bool:
        record = _record(fields={"a": 1})
        if key is not None:
            record.rate_limit = key
        passed = limit.filter(record)
        passes.last = record  # type: ignore[attr-defined]
        return passed

    assert [passes() for _ in range(5)] == [True, True, True, False, False]
    assert passes("other") and passes(None)  # other keys and unlimited records are independent
    now[0] = 1.0
    assert passes()
    assert passes.last.fields == {"a": 1, "suppressed": 2}  # type: ignore[attr-defined]
    assert not passes()
    now[0] = 1000.0
    assert [passes() for _ in range(4)] == [True, True, True, False]  # refilled to the burst, no more


@pytest.mark.parametrize("error", [BadHttpMessage("bad request line"), web.RequestPayloadError("bad gzip"),
                                   ConnectionResetError("reset")])
def test_aiohttp_client_errors_become_one_warning_line(error: BaseException) -> None:
    record = _record("Error handling request from %s", level=logging.ERROR, exc=error, name="aiohttp.server")
    record.args = ("10.0.0.1",)
    assert ClientErrorsAsWarnings().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "malformed request"
    assert record.fields["detail"] == "Error handling request from 10.0.0.1"
    assert type(error).__name__ in record.fields["error"]
    assert record.rate_limit == f"client-error:{type(error).__name__}"
    assert "\n" not in TextFormatter().format(record)


def test_our_own_bugs_keep_their_error_and_traceback() -> None:
    record = _record("Error handling request", level=logging.ERROR, exc=TypeError("our bug"), name="aiohttp.server")
    assert ClientErrorsAsWarnings().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "Traceback" in TextFormatter().format(record)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def installed_limit(monkeypatch: pytest.MonkeyPatch) -> tuple[_Lines, list[float]]:
    """An output handler on the root logger with a rate limit on a test clock, as ``configure`` installs one."""
    now = [0.0]
    handler = _Lines()
    monkeypatch.setattr(logging.root, "handlers", [handler])
    monkeypatch.setattr(logging_setup, "_active_limit", None)
    logging_setup.use_rate_limit(handler, RateLimit(per_second=1.0, burst=3, clock=lambda: now[0]))
    return handler, now


def test_warn_limited_writes_what_the_rate_limit_passes_and_builds_nothing_else(
        installed_limit: tuple[_Lines, list[float]]) -> None:
    handler, now = installed_limit
    log = logging.getLogger("test.warn_limited")
    built: list[int] = []

    def fields() -> dict[str, object]:
        built.append(1)
        return {"n": len(built)}

    for _ in range(5):
        warn_limited(log, "refused", "k", fields)
    assert len(built) == 3 and len(handler.lines) == 3  # the two dropped were never built
    now[0] = 1.0
    warn_limited(log, "refused", "k", fields)
    last = orjson.loads(handler.lines[-1])
    assert (last["level"], last["msg"], last["n"], last["suppressed"]) == ("warning", "refused", 4, 2)


def test_warn_limited_builds_nothing_when_warnings_are_off(installed_limit: tuple[_Lines, list[float]]) -> None:
    handler, _ = installed_limit
    log = logging.getLogger("test.warn_limited.quiet")
    log.setLevel(logging.ERROR)
    try:
        warn_limited(log, "refused", "quiet", lambda: pytest.fail("fields built for a record never written"))
    finally:
        log.setLevel(logging.NOTSET)
    assert handler.lines == []


def test_warn_limited_without_an_installed_limit_leaves_the_limit_to_the_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not configured by ``configure`` (a library user, a test capturing logs): the record carries its key. (An
    earlier test's ``configure`` may have left its handler on the root logger: none is installed here.)"""
    monkeypatch.setattr(logging_setup, "_active_limit", None)
    records: list[logging.LogRecord] = []
    handler = _Lines()
    handler.emit = records.append  # type: ignore[method-assign]
    log = logging.getLogger("test.warn_limited.bare")
    log.addHandler(handler)
    try:
        warn_limited(log, "refused", "bare", lambda: {"a": 1})
    finally:
        log.removeHandler(handler)
    assert [(r.fields, r.rate_limit) for r in records] == [({"a": 1}, "bare")]  # type: ignore[attr-defined]
