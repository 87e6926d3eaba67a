"""sprig's date functions with Go's ``time`` semantics: ``time.Time`` values (nanoseconds, a location), Go layout
strings (``2006-01-02 15:04:05``) for formatting and parsing, ``time.Duration`` text and parsing, and Go's local
zone rule (``$TZ``, else ``/etc/localtime``)."""
from __future__ import annotations

import datetime as dt
import os
import re
import time as _time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workers.templates.govalues import GoInt, Int64, wrap_int

from .convert import clamp_int64, decimal_int
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_NS = 1_000_000_000
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


@dataclass(frozen=True)
class Location:
    """A Go ``*time.Location``: its name and the zone rules."""
    name: str
    tz: dt.tzinfo


UTC = Location("UTC", _UTC)


@lru_cache(maxsize=64)
def load_location(name: str) -> Location | None:
    """``time.LoadLocation``: "" and "UTC" are UTC, "Local" the local zone, else the IANA database."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return local_location()
    if name.startswith("/") or ".." in name or "\\" in name:
        return None
    try:
        return Location(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_location() -> Location:
    """Go's ``time.Local``: ``$TZ`` when set (empty is UTC), else ``/etc/localtime``, else UTC; named "Local"."""
    tz_name = os.environ.get("TZ")
    if tz_name is not None:
        if tz_name in ("", "UTC"):
            return Location("UTC" if tz_name else "UTC", _UTC)
        found = load_location(tz_name.removeprefix(":"))
        return Location("Local", found.tz) if found else Location("UTC", _UTC)
    try:
        with open("/etc/localtime", "rb") as fh:
            return Location("Local", ZoneInfo.from_file(fh, key="Local"))
    except (OSError, ValueError):
        return Location("UTC", _UTC)


@dataclass(frozen=True)
class GoTime:
    """A Go ``time.Time``: Unix seconds, nanoseconds within the second, and the location it is shown in."""
    sec: int
    nsec: int
    loc: Location

    go_type = "time.Time"
    # Methods a template can call, with their number of arguments: ``now.Year``, ``(now).Format "2006"``.
    go_methods = {"Year": 0, "Month": 0, "Day": 0, "Hour": 0, "Minute": 0, "Second": 0, "Nanosecond": 0,
                  "YearDay": 0, "Weekday": 0, "Unix": 0, "UnixNano": 0, "UTC": 0, "Local": 0, "Format": 1,
                  "String": 0, "IsZero": 0}
    go_kind = "struct"

    def civil(self) -> tuple["Civil", int, str]:
        """(local calendar date and clock, UTC offset in seconds, zone abbreviation), for any int64 second."""
        offset, abbr = _zone(self.sec, self.loc.tz)
        return _civil((self.sec + offset + _UNIX_TO_ABSOLUTE) & _U64), offset, abbr

    def __str__(self) -> str:
        return go_format(self, "2006-01-02 15:04:05.999999999 -0700 MST")

    def go_json(self) -> str:
        return go_format(self, "2006-01-02T15:04:05.999999999Z07:00")

    def __eq__(self, other: object) -> bool:
        """Go's ``==`` on ``time.Time``: the same instant in the same location (Go compares its pointer; ours are
        made anew for each value, so by name)."""
        return isinstance(other, GoTime) and (self.sec, self.nsec, self.loc.name) == (other.sec, other.nsec,
                                                                                      other.loc.name)

    def __hash__(self) -> int:
        return hash((self.sec, self.nsec, self.loc.name))

    def in_location(self, loc: Location) -> "GoTime":
        return GoTime(self.sec, self.nsec, loc)

    def add_nanos(self, nanos: int) -> "GoTime":
        total = self.sec * _NS + self.nsec + nanos
        return GoTime(total // _NS, total % _NS, self.loc)

    def Year(self) -> int:  # noqa: N802 - Go method names
        return self.civil()[0].year

    def Month(self) -> "Month":  # noqa: N802
        return Month(self.civil()[0].month)

    def Day(self) -> int:  # noqa: N802
        return self.civil()[0].day

    def Hour(self) -> int:  # noqa: N802
        return self.civil()[0].hour

    def Minute(self) -> int:  # noqa: N802
        return self.civil()[0].minute

    def Second(self) -> int:  # noqa: N802
        return self.civil()[0].second

    def Nanosecond(self) -> int:  # noqa: N802
        return self.nsec

    def YearDay(self) -> int:  # noqa: N802
        return self.civil()[0].yday

    def Weekday(self) -> "Weekday":  # noqa: N802
        return Weekday(self.civil()[0].weekday)

    def Unix(self) -> Int64:  # noqa: N802
        return Int64(self.sec)

    def UnixNano(self) -> Int64:  # noqa: N802
        return Int64(wrap_int(self.sec * _NS + self.nsec))

    def UTC(self) -> "GoTime":  # noqa: N802
        return self.in_location(UTC)

    def Local(self) -> "GoTime":  # noqa: N802
        return self.in_location(local_location())

    def Format(self, layout: str) -> str:  # noqa: N802
        return go_format(self, layout)

    def String(self) -> str:  # noqa: N802
        return str(self)

    def IsZero(self) -> bool:  # noqa: N802
        return self.sec == _ZERO_SEC and self.nsec == 0


# ---- Go's calendar (time.go): dates computed from "absolute" seconds since March 1 of year -292277022400 in
# unsigned 64-bit arithmetic, so every int64 Unix second has a date, wrap-around included (Unix second -2**63 is in
# year 292277026596 there). Python's datetime only reaches years 1-9999, so it is used for zone offsets alone,
# after moving the instant by whole 400-year cycles, over which the Gregorian calendar and the weekdays repeat.

_U64 = (1 << 64) - 1
_DAY = 86400
_ABSOLUTE_YEARS = 292277022400
_MARCH_THRU_DECEMBER = 306
_UNIX_TO_ABSOLUTE = ((1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400)
                     + _ABSOLUTE_YEARS * 3652425 // 10000 + _MARCH_THRU_DECEMBER) * _DAY
_CYCLE = 146097 * _DAY
"""Seconds in 400 Gregorian years (a whole number of weeks)."""
_SAFE_LOW = int((dt.datetime(2, 1, 1, tzinfo=_UTC) - _EPOCH).total_seconds())
_SAFE_HIGH = int((dt.datetime(9998, 1, 1, tzinfo=_UTC) - _EPOCH).total_seconds())


@dataclass(frozen=True)
class Civil:
    """A wall-clock date and time as Go's ``Time`` methods give them (weekday 0 is Sunday)."""
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    weekday: int
    yday: int


def _civil(abs_sec: int) -> Civil:
    """Go's ``absSeconds`` -> ``days().date()``, ``yearYday()``, ``weekday()`` and ``clock()``."""
    days, clock = divmod(abs_sec, _DAY)
    d = (4 * days + 3) & _U64
    century, cd = d // 146097, (d % 146097) | 3
    product = 2939745 * cd
    cyear, ayday = product >> 32, (product & 0xFFFFFFFF) // 2939745 // 4
    m = 2141 * ayday + 197913
    jan_feb = 1 if ayday >= _MARCH_THRU_DECEMBER else 0
    leap = 1 if cyear % 4 == 0 and (cyear != 0 or century % 4 == 0) else 0
    return Civil(
        year=wrap_int(wrap_int(century * 100 - _ABSOLUTE_YEARS) + cyear + jan_feb),
        month=(m >> 16) - 12 * jan_feb, day=1 + (m & 0xFFFF) // 2141,
        hour=clock // 3600, minute=clock % 3600 // 60, second=clock % 60,
        weekday=(days + 3) % 7, yday=ayday + 60 + (leap & ~jan_feb) - 365 * jan_feb)


def _zone(sec: int, tz: dt.tzinfo) -> tuple[int, str]:
    """(UTC offset, abbreviation) of the zone at Unix second ``sec``; outside years 2-9997 the zone's rules at the
    same point of a 400-year cycle inside them (its last rules in the future, its first zone in the past)."""
    if tz is _UTC:
        return 0, "UTC"
    if sec < _SAFE_LOW:
        sec += -((sec - _SAFE_LOW) // _CYCLE) * _CYCLE
    elif sec >= _SAFE_HIGH:
        sec -= ((sec - _SAFE_HIGH) // _CYCLE + 1) * _CYCLE
    local = (_EPOCH + dt.timedelta(seconds=sec)).astimezone(tz)
    return int(local.utcoffset().total_seconds()), local.tzname() or ""  # type: ignore[union-attr]


class Month(GoInt):
    """``time.Month``: an int that prints as the month's name."""
    __slots__ = ()
    go_type = "time.Month"
    go_kind = "int"

    def __str__(self) -> str:
        return _MONTHS[self - 1] if 1 <= self <= 12 else f"%!Month({int(self)})"


class Weekday(GoInt):
    __slots__ = ()
    go_type = "time.Weekday"
    go_kind = "int"

    def __str__(self) -> str:
        return _DAYS[self] if 0 <= self <= 6 else f"%!Weekday({int(self)})"


_ZERO_SEC = int((dt.datetime(1, 1, 1, tzinfo=_UTC) - _EPOCH).total_seconds())
ZERO_TIME = GoTime(_ZERO_SEC, 0, UTC)


def now() -> GoTime:
    ns = _time.time_ns()
    return GoTime(ns // _NS, ns % _NS, local_location())


def unix(sec: int) -> GoTime:
    return GoTime(sec, 0, local_location())


# ---- layouts ---------------------------------------------------------------------------------------------------

_STD = re.compile(r"""January|Jan(?![a-z])|Monday|Mon(?![a-z])|MST|0[1-6]|002|15|1|2006|2|_2006|__2|_2|3|4|5|PM|pm
    |-070000|-07:00:00|-0700|-07:00|-07|Z070000|Z07:00:00|Z0700|Z07:00|Z07|[.,](?:0+|9+)(?![0-9])""", re.X)


def _chunks(layout: str) -> list[tuple[str, str]]:
    """The layout as (literal, std) pairs, following Go's ``nextStdChunk`` precedence."""
    out = []
    pos = 0
    while pos < len(layout):
        m = _STD.search(layout, pos)
        if m is None:
            out.append((layout[pos:], ""))
            break
        std = m.group()
        literal = layout[pos:m.start()]
        if std == "_2006":  # a literal underscore followed by the year
            literal, std = literal + "_", "2006"
        out.append((literal, std))
        pos = m.end()
    return out


def _tz_text(std: str, offset: int) -> str:
    if std.startswith("Z") and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    h, rem = divmod(offset, 3600)
    m, s = divmod(rem, 60)
    body = std[1:]
    if body in ("070000",):
        return f"{sign}{h:02d}{m:02d}{s:02d}"
    if body == "07:00:00":
        return f"{sign}{h:02d}:{m:02d}:{s:02d}"
    if body == "0700":
        return f"{sign}{h:02d}{m:02d}"
    if body == "07:00":
        return f"{sign}{h:02d}:{m:02d}"
    return f"{sign}{h:02d}"


def _frac(std: str, nsec: int) -> str:
    digits = f"{nsec:09d}"[:len(std) - 1]
    if std[1] == "9":
        digits = digits.rstrip("0")
        return std[0] + digits if digits else ""
    return std[0] + digits


def go_format(t: GoTime, layout: str) -> str:
    """``Time.Format(layout)``."""
    local, offset, abbr = t.civil()
    out = []
    for literal, std in _chunks(layout):
        out.append(literal)
        if not std:
            continue
        year, month, day = local.year, local.month, local.day
        hour = local.hour
        if std == "2006":
            out.append(f"{year:04d}" if year >= 0 else f"-{-year:04d}")
        elif std == "06":
            out.append(f"{abs(year) % 100:02d}")
        elif std == "January":
            out.append(_MONTHS[month - 1])
        elif std == "Jan":
            out.append(_MONTHS[month - 1][:3])
        elif std == "01":
            out.append(f"{month:02d}")
        elif std == "1":
            out.append(str(month))
        elif std == "Monday":
            out.append(_DAYS[local.weekday])
        elif std == "Mon":
            out.append(_DAYS[local.weekday][:3])
        elif std == "02":
            out.append(f"{day:02d}")
        elif std == "_2":
            out.append(f"{day:2d}")
        elif std == "2":
            out.append(str(day))
        elif std == "002":
            out.append(f"{local.yday:03d}")
        elif std == "__2":
            out.append(f"{local.yday:3d}")
        elif std == "15":
            out.append(f"{hour:02d}")
        elif std in ("3", "03"):
            h12 = hour % 12 or 12
            out.append(str(h12) if std == "3" else f"{h12:02d}")
        elif std == "04":
            out.append(f"{local.minute:02d}")
        elif std == "4":
            out.append(str(local.minute))
        elif std == "05":
            out.append(f"{local.second:02d}")
        elif std == "5":
            out.append(str(local.second))
        elif std in ("PM", "pm"):
            text = "PM" if hour >= 12 else "AM"
            out.append(text if std == "PM" else text.lower())
        elif std == "MST":
            out.append(abbr or _tz_text("-0700", offset))
        elif std[0] in "-Z":
            out.append(_tz_text(std, offset))
        elif std[0] in ".,":
            out.append(_frac(std, t.nsec))
    return "".join(out)


class ParseError(ValueError):
    pass


def _number(value: str, width: int, fixed: bool) -> tuple[int, str]:
    """Leading digits: exactly ``width`` when ``fixed``, else 1..``width``."""
    n = 0
    while n < len(value) and n < width and value[n].isascii() and value[n].isdigit():
        n += 1
    if n == 0 or (fixed and n != width):
        raise ParseError("bad number")
    return int(value[:n]), value[n:]


def _lookup(value: str, names: list[str]) -> tuple[int, str]:
    for i, name in enumerate(names):
        if value[:len(name)].lower() == name.lower():
            return i, value[len(name):]
    raise ParseError("bad name")


def go_parse(layout: str, value: str, default_loc: Location) -> GoTime:
    """``time.ParseInLocation(layout, value, loc)`` for Go's standard layout elements."""
    original = value
    year, month, day, yday = 0, -1, -1, -1  # Go's defaults: year 0, month and day not seen
    hour = minute = second = nsec = 0
    pm_set = pm = False
    offset: int | None = None
    zone_name, in_utc = "", False
    chunks = _chunks(layout)
    for index, (literal, std) in enumerate(chunks):
        next_std = chunks[index + 1][1] if index + 1 < len(chunks) else ""
        if not value.startswith(literal):
            raise ParseError(f"parsing time {original!r} as {layout!r}: cannot parse {value!r} as {literal!r}")
        value = value[len(literal):]
        if not std:
            continue
        if std == "2006":
            if len(value) < 4 or not value[:4].isdigit():
                raise ParseError("bad year")
            year, value = int(value[:4]), value[4:]
        elif std == "06":
            yy, value = _number(value, 2, True)
            year = yy + (1900 if yy >= 69 else 2000)
        elif std in ("January", "Jan"):
            names = _MONTHS if std == "January" else [m[:3] for m in _MONTHS]
            idx, value = _lookup(value, names)
            month = idx + 1
        elif std in ("01", "1"):
            month, value = _number(value, 2, std == "01")
            if not 1 <= month <= 12:
                raise ParseError("month out of range")
        elif std in ("Monday", "Mon"):
            names = _DAYS if std == "Monday" else [d[:3] for d in _DAYS]
            _, value = _lookup(value, names)
        elif std in ("02", "2", "_2"):
            if std == "_2" and value.startswith(" "):
                value = value[1:]
            day, value = _number(value, 2, std == "02")
        elif std in ("002", "__2"):
            if std == "__2":
                value = value.lstrip(" ") if len(value) - len(value.lstrip(" ")) <= 2 else value
            yday, value = _number(value, 3, std == "002")
        elif std == "15":
            hour, value = _number(value, 2, False)
            if hour > 23:
                raise ParseError("hour out of range")
        elif std in ("3", "03"):
            hour, value = _number(value, 2, std == "03")
            if hour > 12:
                raise ParseError("hour out of range")
        elif std in ("04", "4"):
            minute, value = _number(value, 2, std == "04")
            if minute > 59:
                raise ParseError("minute out of range")
        elif std in ("05", "5"):
            second, value = _number(value, 2, std == "05")
            if second > 59:
                raise ParseError("second out of range")
            # A fraction in the value that the layout does not spell out is read here (Go's special case).
            if len(value) >= 2 and value[0] in ".," and value[1].isdigit() and next_std[:1] not in (".", ","):
                digits = len(value) - 1 - len(value[1:].lstrip("0123456789"))
                nsec = int((value[1:1 + digits] + "000000000")[:9])
                value = value[1 + digits:]
        elif std in ("PM", "pm"):
            word = value[:2].upper()
            if word not in ("AM", "PM"):
                raise ParseError("bad AM/PM")
            pm_set, pm, value = True, word == "PM", value[2:]
        elif std[0] in "-Z":
            if std[0] == "Z" and value.startswith("Z"):
                offset, value = 0, value[1:]
                continue
            m = re.match({"070000": r"([+-])(\d\d)(\d\d)(\d\d)", "07:00:00": r"([+-])(\d\d):(\d\d):(\d\d)",
                          "0700": r"([+-])(\d\d)(\d\d)()", "07:00": r"([+-])(\d\d):(\d\d)()",
                          "07": r"([+-])(\d\d)()()"}[std[1:]], value)
            if m is None:
                raise ParseError("bad zone offset")
            sign = -1 if m.group(1) == "-" else 1
            offset = sign * (int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60 + int(m.group(4) or 0))
            value = value[m.end():]
        elif std == "MST":
            if value.startswith("UTC"):
                in_utc, value = True, value[3:]
                continue
            length = _zone_name_length(value)
            if not length:
                raise ParseError("bad zone name")
            zone_name, value = value[:length], value[length:]
        elif std[0] in ".,":
            width = len(std) - 1
            if std[1] == "0":
                if len(value) < width + 1 or value[0] not in ".," or not value[1:width + 1].isdigit():
                    raise ParseError("bad fraction")
                nsec = int((value[1:width + 1] + "000000000")[:9])
                value = value[width + 1:]
            elif len(value) >= 2 and value[0] in ".," and value[1].isdigit():
                digits = len(value) - 1 - len(value[1:].lstrip("0123456789"))
                nsec = int((value[1:1 + digits] + "000000000")[:9])
                value = value[1 + digits:]
    if value:
        raise ParseError(f"parsing time {original!r}: extra text: {value!r}")
    if pm_set:
        if pm and hour < 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    month, day = _month_and_day(year, month, day, yday, original)
    naive = _days_from_civil(year, month, day) * _DAY + hour * 3600 + minute * 60 + second
    if in_utc:  # "UTC" read by the MST element wins over any offset
        return GoTime(naive, nsec, UTC)
    if offset is not None:  # the default zone if it had that offset (and name) then, else a fixed zone
        local_offset, local_name = _zone(naive - offset, default_loc.tz)
        if local_offset == offset and zone_name in ("", local_name):
            return GoTime(naive - offset, nsec, default_loc)
        return GoTime(naive - offset, nsec, Location(zone_name, dt.timezone(dt.timedelta(seconds=offset), zone_name)))
    if zone_name:
        named_offset = _offset_named(zone_name, naive, default_loc.tz)
        if named_offset is not None:  # a name of the default zone: its offset
            return GoTime(naive - named_offset, nsec, default_loc)
        # a name the default zone does not have: the time read as UTC, shown in a zone of that name
        gmt_offset = int(zone_name[3:]) * 3600 if zone_name.startswith("GMT") and len(zone_name) > 3 else 0
        return GoTime(naive, nsec, Location(zone_name, dt.timezone(dt.timedelta(seconds=gmt_offset), zone_name)))
    return GoTime(_local_to_unix(naive, default_loc.tz), nsec, default_loc)


_NEAR = tuple(days * _DAY for days in (0, -1, 1, -92, 92, -183, 183))
"""Shifts from a wall time at which to look for zone periods: either side of its day and of its seasons."""
_FAR = (_SAFE_LOW, 946684800, 962409600)
"""Instants whose zone periods are candidates too: the earliest rules (local mean time), January and July 2000."""


def _offset_named(name: str, naive: int, tz: dt.tzinfo) -> int | None:
    """Go's ``Location.lookupName`` near wall-clock seconds ``naive``: the offset of the zone's period called
    ``name``, preferring one in effect at the instant it gives. Python's zone rules list no periods, so the candidates
    are the periods in effect around that time (both sides of a daylight-saving change), then at a few fixed
    instants; Go, with the zone's whole list, also finds a name the zone used only in other years."""
    if tz is _UTC:
        return None
    near = [_zone(naive + shift, tz) for shift in _NEAR]
    for offset, zone_name in near:
        if zone_name == name and _zone(naive - offset, tz)[1] == name:
            return offset
    for offset, zone_name in near + [_zone(instant, tz) for instant in _FAR]:
        if zone_name == name:
            return offset
    return None


def _signed_hours_length(value: str) -> int:
    """Go's ``parseSignedOffset``: length of a leading ``+NN``/``-NN`` (hours, at most 23), else 0."""
    if value[:1] not in ("+", "-"):
        return 0
    end = _leading_digits(value, 1)
    if end == 1 or decimal_int(value[1:end]) > 23:
        return 0
    return end


def _zone_name_length(value: str) -> int:
    """Go's ``parseTimeZone``: length of the zone abbreviation ``value`` starts with, 0 if none."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value.startswith("GMT"):
        return 3 + _signed_hours_length(value[3:]) if len(value) > 3 else 3
    if value[0] in "+-":
        return _signed_hours_length(value)
    upper = 0
    while upper < 6 and upper < len(value) and "A" <= value[upper] <= "Z":
        upper += 1
    if upper == 3 or (upper == 4 and (value[3] == "T" or value[:4] == "WITA")) or (upper == 5 and value[4] == "T"):
        return upper
    return 0


_DAYS_BEFORE = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)
"""Days of a common year before month m (1-12), and in all of it (13)."""


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_and_day(year: int, month: int, day: int, yday: int, original: str) -> tuple[int, int]:
    """The end of Go's ``parse``: month and day from a day of the year (which must agree with them when the layout
    had them too), defaults for those not given, and the day checked against its month."""
    if yday >= 0:
        m = d = 0
        if _is_leap(year):
            if yday == 60:
                m, d = 2, 29
            elif yday > 60:
                yday -= 1
        if not 1 <= yday <= 365:
            raise ParseError(f"parsing time {original!r}: day-of-year out of range")
        if m == 0:
            m = (yday - 1) // 31 + 1
            if _DAYS_BEFORE[m + 1] < yday:
                m += 1
            d = yday - _DAYS_BEFORE[m]
        if month >= 0 and month != m:
            raise ParseError(f"parsing time {original!r}: day-of-year does not match month")
        if day >= 0 and day != d:
            raise ParseError(f"parsing time {original!r}: day-of-year does not match day")
        month, day = m, d
    month, day = (1 if month < 0 else month), (1 if day < 0 else day)
    days_in_month = 29 if month == 2 and _is_leap(year) else _DAYS_BEFORE[month + 1] - _DAYS_BEFORE[month]
    if not 1 <= day <= days_in_month:
        raise ParseError(f"parsing time {original!r}: day out of range")
    return month, day


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date of any year (year 0 is 1 BC, as in Go)."""
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year - 719468


def _local_to_unix(naive: int, tz: dt.tzinfo) -> int:
    """Unix seconds of wall-clock seconds ``naive`` in zone ``tz``, as Go's ``Date`` finds them: the offset in
    effect at ``naive`` read as UTC, re-checked at the instant it gives (so a wall time in a spring-forward gap
    takes the offset from before the gap: 02:30 on a New York spring-forward day is 01:30 EST)."""
    return naive - _zone(naive - _zone(naive, tz)[0], tz)[0]


# ---- durations -------------------------------------------------------------------------------------------------

def _frac_text(value: int, digits: int) -> str:
    whole, rest = divmod(value, 10 ** digits)
    rest_text = f"{rest:0{digits}d}".rstrip("0")
    return f"{whole}.{rest_text}" if rest_text else str(whole)


def duration_string(nanos: int) -> str:
    """``time.Duration.String()``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u == 0:
        return "0s"
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac_text(u, 3)}µs"
    if u < _NS:
        return f"{sign}{_frac_text(u, 6)}ms"
    secs, sub = divmod(u, _NS)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    text = _frac_text(secs * _NS + sub, 9) + "s"
    if minutes or hours:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": _NS, "m": 60 * _NS,
          "h": 3600 * _NS}
_DIGITS = frozenset("0123456789")


def _leading_digits(s: str, i: int) -> int:
    """Index of the first non-digit at or after ``i``."""
    while i < len(s) and s[i] in _DIGITS:
        i += 1
    return i


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's ``leadingFraction``: the digits' value and scale (10**count), digits past 63 bits ignored."""
    value, scale = 0, 1.0
    for c in digits:
        if value > ((1 << 63) - 1) // 10 or value * 10 + int(c) > 1 << 63:
            break  # overflow: Go skips every later digit
        value, scale = value * 10 + int(c), scale * 10
    return value, scale


def parse_duration(s: str) -> int:
    """``time.ParseDuration`` step by step: nanoseconds; ValueError on bad syntax or overflow. The fraction is
    scaled in float64, as Go does, so ``1.9999999999999999999h`` is 2h there and here."""
    original = s
    invalid = ValueError(f"time: invalid duration {original!r}")
    negative = s[:1] == "-"
    if s[:1] in ("+", "-"):
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise invalid
    total, i = 0, 0
    while i < len(s):
        if s[i] != "." and s[i] not in _DIGITS:
            raise invalid
        end = _leading_digits(s, i)
        whole = decimal_int(s[i:end]) if end > i else 0
        if whole > 1 << 63:
            raise invalid
        pre, i = end > i, end
        frac, scale, post = 0, 1.0, False
        if i < len(s) and s[i] == ".":
            end = _leading_digits(s, i + 1)
            frac, scale = _leading_fraction(s[i + 1:end])
            post, i = end > i + 1, end
        if not pre and not post:
            raise invalid
        end = i
        while end < len(s) and s[end] != "." and s[end] not in _DIGITS:
            end += 1
        if end == i:
            raise ValueError(f"time: missing unit in duration {original!r}")
        unit_text, i = s[i:end], end
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {unit_text!r} in duration {original!r}")
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if frac > 0:
            value += int(float(frac) * (float(unit) / scale))
            if value > 1 << 63:
                raise invalid
        total += value
        if total > 1 << 63:
            raise invalid
    if not negative and total > (1 << 63) - 1:
        raise invalid
    return wrap_int(-total) if negative else total


# ---- the functions ---------------------------------------------------------------------------------------------

def _as_time(v: Any) -> GoTime:
    """sprig's date argument: a time, Unix seconds as int/int64/int32, anything else is now."""
    if isinstance(v, GoTime):
        return v
    if isinstance(v, int) and not isinstance(v, bool) and type(v).__name__ in ("int", "Int64", "Int32"):
        return unix(int(v))
    return now()


@go("func() time.Time", "now")
def now_() -> GoTime:
    return now()


@go("func(string, interface {}, string) string", "dateInZone", "date_in_zone")
def date_in_zone(layout: str, date: Any, zone: str) -> str:
    loc = load_location(zone) or UTC
    return go_format(_as_time(date).in_location(loc), layout)


@go("func(string, interface {}) string", "date")
def date(layout: str, value: Any) -> str:
    return date_in_zone(layout, value, "Local")


@go("func(interface {}) string", "htmlDate")
def html_date(value: Any) -> str:
    return date_in_zone("2006-01-02", value, "Local")


@go("func(interface {}, string) string", "htmlDateInZone")
def html_date_in_zone(value: Any, zone: str) -> str:
    return date_in_zone("2006-01-02", value, zone)


@go("func(string, time.Time) time.Time", "dateModify", "date_modify")
def date_modify(text: str, t: GoTime) -> GoTime:
    try:
        return t.add_nanos(parse_duration(text))
    except ValueError:
        return t


@go("func(string, time.Time) (time.Time, error)", "mustDateModify", "must_date_modify")
def must_date_modify(text: str, t: GoTime) -> GoTime:
    return t.add_nanos(parse_duration(text))


def _since(t: GoTime) -> int:
    ns = _time.time_ns()
    return wrap_int(ns - (t.sec * _NS + t.nsec))


@go("func(interface {}) string", "ago")
def ago(value: Any) -> str:
    if isinstance(value, GoTime):
        t = value
    elif isinstance(value, int) and type(value).__name__ in ("int", "Int64"):
        t = unix(int(value))
    else:
        t = now()
    d = _since(t)
    rounded = (abs(d) + _NS // 2) // _NS * _NS
    return duration_string(rounded if d >= 0 else -rounded)


@go("func(interface {}) string", "duration")
def duration(value: Any) -> str:
    """Seconds (an int64 or a decimal string) as a duration; anything else is 0s."""
    n = 0
    if isinstance(value, str):
        if re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII):  # strconv.ParseInt(value, 10, 64)
            n = clamp_int64(decimal_int(value))  # out of range: the limit, as Go returns
    elif isinstance(value, Int64):
        n = int(value)
    return duration_string(wrap_int(n * _NS))


@go("func(interface {}) string", "durationRound")
def duration_round(value: Any) -> str:
    """A duration rounded down to its largest unit: ``2h``, ``3mo``, ``1y``."""
    d = 0
    if isinstance(value, str):
        try:
            d = parse_duration(value)
        except ValueError:
            d = 0
    elif isinstance(value, Int64):
        d = int(value)
    elif isinstance(value, GoTime):
        d = _since(value)
    u = abs(d)
    hour = 3600 * _NS
    for unit, suffix in ((hour * 24 * 365, "y"), (hour * 24 * 30, "mo"), (hour * 24, "d"), (hour, "h"),
                         (60 * _NS, "m"), (_NS, "s")):
        if u > unit:
            return f"{u // unit}{suffix}"
    return "0s"


@go("func(string, string) time.Time", "toDate")
def to_date(layout: str, value: str) -> GoTime:
    try:
        return go_parse(layout, value, local_location())
    except (ParseError, ValueError, OverflowError):
        return ZERO_TIME


@go("func(string, string) (time.Time, error)", "mustToDate")
def must_to_date(layout: str, value: str) -> GoTime:
    return go_parse(layout, value, local_location())


@go("func(time.Time) string", "unixEpoch")
def unix_epoch(t: GoTime) -> str:
    return str(t.sec)


__all__ = ["GoTime", "SPRIG", "duration_string", "parse_duration"]
