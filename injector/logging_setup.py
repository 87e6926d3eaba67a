"""Log output for the server: one line per event, JSON (for log pipelines) or key=value text (for people).

Structured fields travel in ``extra={"fields": {...}}`` so call sites stay plain ``log.info(...)`` calls and the
formatter, not the caller, decides how they are printed.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


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
        line = f"{_timestamp(record)} {record.levelname.lower():5} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text_value(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if not text or any(c in text for c in ' "=\n') else text


def configure(log_format: str = "text", level: str = "info") -> None:
    """Route all logging to stderr in ``log_format``; replaces handlers installed earlier."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
