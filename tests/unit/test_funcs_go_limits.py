"""Function map behaviour at Go's limits, found by the Go-oracle fuzzer (tests/gooracle checks the same against Go
itself; these run without Go): numbers past 64 bits, Go's int wrap-around, huge sizes."""
import pytest

from workers.templates.funcs import FUNCS as F
from workers.templates.funcs.convert import clamp_int64, decimal_int

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
