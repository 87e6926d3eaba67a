"""Function map behaviour at Go's limits, found by the Go-oracle fuzzer (tests/gooracle checks the same against Go
itself; these run without Go): numbers past 64 bits, Go's int wrap-around, huge sizes, dates and durations."""
import pytest

from workers.templates.funcs import FUNCS as F
from workers.templates.funcs.convert import clamp_int64, decimal_int
from workers.templates.funcs.dates import go_parse, load_location, parse_duration

MAX, MIN = (1 << 63) - 1, -(1 << 63)
HUGE = "1" * 5000  # past Python's 4300-digit limit on int(text)


def test_decimal_strings_past_64_bits_stay_out_of_range_without_python_s_digit_limit():
    assert decimal_int("-00042") == -42
    assert decimal_int("+" + HUGE) > MAX and decimal_int("-" + HUGE) < MIN
    assert clamp_int64(decimal_int(HUGE)) == MAX and clamp_int64(decimal_int("-" + HUGE)) == MIN


def test_casts_of_huge_strings_give_zero_and_atoi_the_nearest_int64():
    assert F["int"](HUGE) == 0 and F["int64"]("-" + HUGE) == 0 and F["toDecimal"]("7" * 5000) == 0
    assert F["atoi"](HUGE) == MAX and F["atoi"]("-" + HUGE) == MIN
    assert F["atoi"]("99999999999999999999") == MAX and F["atoi"]("-9223372036854775809") == MIN
    assert F["atoi"]("12x") == 0


def test_until_step_wraps_around_int64_as_go_s_counter_does():
    start, step = MIN + 5, MAX
    assert F["untilStep"](start, MAX, step) == [MIN + 5, 4, MIN + 3, 2, MIN + 1, 0]
    assert F["untilStep"](MAX - 4, -MAX, -MAX) == [MAX - 4, -4, MAX - 2, -2, MAX, 0]
    assert F["untilStep"](0, 5, 0) == [] and F["untilStep"](5, 0, 1) == []


def test_until_step_that_never_ends_in_go_is_an_error_here():
    with pytest.raises(ValueError, match="wraps around int64"):
        F["untilStep"](0, MAX, 1 << 62)


def test_seq_end_plus_one_wraps_as_go_s_int():
    assert F["seq"](MAX - 1, MAX) == ""  # end+1 wrapped to the minimum: counting up to it gives nothing
    assert F["seq"](3) == "1 2 3" and F["seq"](3, 1) == "3 2 1"


def test_random_strings_use_their_alphabet_and_huge_counts_fail_at_once():
    text = F["randAlphaNum"](4000)
    assert len(text) == 4000 and text.isascii() and text.isalnum()
    assert len(set(text)) == 62  # every character of the alphabet is drawn
    assert set(F["randNumeric"](500)) == set("0123456789")
    with pytest.raises(ValueError, match="makeslice: len out of range"):  # refused before generating anything
        F["randAlpha"](MAX)


# ---- dates and durations -----------------------------------------------------------------------------------------

HOUR = 3600 * 10**9


@pytest.mark.parametrize("text, nanos", [
    ("1.9999999999999999999h", 2 * HOUR),  # the fraction is scaled in float64, as Go does
    ("1.5us3ms.7h", 1500 + 3_000_000 + 7 * HOUR // 10), ("5.s", 5 * 10**9), ("-0", 0), ("+1m", 60 * 10**9),
    ("-2562047h47m16.854775808s", MIN),
])
def test_parse_duration_follows_go_step_by_step(text, nanos):
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text, message", [
    (".", "invalid duration"), ("9223372036854775808ns", "invalid duration"), (HUGE + "ns", "invalid duration"),
    ("3x", "unknown unit 'x'"), ("5", "missing unit"), ("", "invalid duration"),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_every_int64_second_has_go_s_calendar_date():
    assert F["date"]("2006", MAX) == "292277026596"
    assert F["dateInZone"]("2006-01-02 15:04:05 Mon 002", MIN, "UTC") == "292277026596-12-04 15:30:08 Sun 339"
    assert F["dateInZone"]("2006-01-02 Mon 06", -62198755200, "UTC") == "-0001-01-01 Fri 01"


def test_parse_defaults_and_day_of_year():
    assert str(F["toDate"]("15:04", "10:30")) == "0000-01-01 10:30:00 +0000 UTC"  # Go's default year is 0
    assert str(F["toDate"]("2006 002", "2020 060")) == "2020-02-29 00:00:00 +0000 UTC"
    assert str(F["toDate"]("2006 002", "2019 366")) == "0001-01-01 00:00:00 +0000 UTC"  # an error: toDate's zero time


def test_parse_zone_names():
    assert str(F["toDate"]("2006-01-02 15:04 -0700 MST", "2020-06-01 10:00 -0400 UTC")) == \
        "2020-06-01 10:00:00 +0000 UTC"  # "UTC" wins over the offset
    assert str(F["toDate"]("2006-01-02 15:04 MST", "2020-06-01 10:00 GMT+3")) == "2020-06-01 13:00:00 +0300 GMT+3"
    new_york = load_location("America/New_York")
    layout = "2006-01-02 15:04 MST"
    assert str(go_parse(layout, "2020-06-01 10:00 EDT", new_york)) == "2020-06-01 10:00:00 -0400 EDT"
    assert str(go_parse(layout, "2020-06-01 10:00 EST", new_york)) == "2020-06-01 11:00:00 -0400 EDT"
    assert str(go_parse(layout, "2020-11-01 01:30 EST", new_york)) == "2020-11-01 01:30:00 -0500 EST"  # the 2nd 01:30
    assert str(go_parse(layout, "2020-06-01 10:00 CET", new_york)) == "2020-06-01 10:00:00 +0000 CET"  # not its name


# ---- JSON of bytes that are not UTF-8 ----------------------------------------------------------------------------

CUT = F["trunc"](1, "é")  # the first byte of a two-byte character


def test_json_writes_a_byte_that_is_not_utf8_as_the_escape_go_writes():
    assert F["toJson"](CUT) == '"\\ufffd"'
    assert F["toRawJson"]({CUT: [CUT, "<"]}) == '{"\\ufffd":["\\ufffd","<"]}'
    assert F["toPrettyJson"]({"a": CUT}) == '{\n  "a": "\\ufffd"\n}'


def test_json_keeps_real_replacement_and_noncharacters_around_bad_bytes():
    marks = ["\ufffd", "\ufdd0", "\ufdd0\ufdd1", "\ufdd0" + CUT + "\ufdd2", CUT + "\ufdd0\ufdd0"]
    assert F["toRawJson"](marks) == ('["\ufffd","\ufdd0","\ufdd0\ufdd1","\ufdd0\\ufffd\ufdd2",'
                                     '"\\ufffd\ufdd0\ufdd0"]')


def test_istio_json_helpers_and_to_yaml_replace_bad_bytes_too():
    assert F["toJSON"]({CUT: "v"}) == '{"\\ufffd":"v"}'
    assert F["toJsonMap"]({"k": CUT}) == '{"k":"\\ufffd"}'
    assert F["toYaml"]({"k": CUT}) == "k: \ufffd\n"
