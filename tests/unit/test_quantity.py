"""resource.Quantity canonical text (the JSON Kubernetes writes back after parsing a quantity)."""
from __future__ import annotations

import pytest

from workers.k8s.quantity import QuantityError, canonical


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Largest suffix with an integer mantissa, same format family.
        ("2000m", "2"),
        ("1500m", "1500m"),
        ("1024Mi", "1Gi"),
        ("307200Ki", "300Mi"),
        ("1025024Mi", "1001Gi"),
        ("1024Gi", "1Ti"),
        ("100Mi", "100Mi"),
        ("1000Mi", "1000Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Mi", "512Ki"),
        ("1000M", "1G"),
        ("0.001T", "1G"),
        ("1000u", "1m"),
        ("1080000000n", "1080m"),
        ("1.08", "1080m"),
        ("0.5", "500m"),
        ("100m", "100m"),
        ("128Mi", "128Mi"),
        ("50k", "50k"),
        ("12E", "12E"),
        # Decimal exponent keeps its family.
        ("1e3", "1e3"),
        ("1E6", "1E6"),
        ("1.2e3", "1200"),
        (".001e12", "1e9"),
        ("0.001e0", "1e-3"),
        ("1000e-12", "1e-9"),
        ("10e3", "10e3"),
        ("1e100", "10e99"),
        # BinarySI below 1Ki or fractional falls back to DecimalSI.
        ("1023", "1023"),
        ("0.5Ki", "512"),
        (".001Ki", "1024m"),
        ("100.035Ki", "102435840m"),
        # Sub-nano precision rounds up, away from zero.
        ("3.001n", "4n"),
        (".000000000001Ki", "2n"),
        ("0.00000012345", "124n"),
        ("-.000000000001Ki", "-2n"),
        # Zeros.
        ("0", "0"),
        ("00", "0"),
        ("0m", "0"),
        ("0Mi", "0"),
        ("-0", "0"),
        # Signs; Go keeps an already canonical input verbatim, sign included.
        ("-1024Mi", "-1Gi"),
        ("-2000m", "-2"),
        ("+1", "+1"),
        ("+1000m", "1"),
        # Whitespace is trimmed by Quantity.UnmarshalJSON.
        (" 1 ", "1"),
        # Caps and quirks of the Go implementation.
        ("9Ei", "9223372036854775807"),
        ("1000E", "1"),
        ("Mi", "0"),
    ],
)
def test_canonical_strings(given: str, expected: str) -> None:
    assert canonical(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [(0, "0"), (2, "2"), (1000, "1k"), (-3, "-3"), (0.5, "500m"), (1.0, "1"), (2.5e-10, "1e-9"), (1e21, "1e+21")],
)
def test_numbers_are_read_as_their_json_text(given: float, expected: str) -> None:
    assert canonical(given) == expected


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "1x", "1.5.5", "--1", "1e", "1KiB", "1 Mi", "1.1.M", "1+1.0M", "0.1mi", "0.1am", ".5i", "-3.01e-"],
)
def test_invalid_quantities_raise(bad: str) -> None:
    with pytest.raises(QuantityError):
        canonical(bad)


@pytest.mark.parametrize("bad", [True, None, [1], {"a": 1}])
def test_non_scalar_values_raise(bad: object) -> None:
    with pytest.raises(QuantityError):
        canonical(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Exponents are cheap in Go (a scale, not a number of digits); they must be here too.
        ("1e100000", "10e99999"),
        ("1e2147483647", "10e2147483646"),
        ("-1e2147483647", "-10e2147483646"),
        ("1e-2147483648", "1e-9"),
        ("1.5e-10000000", "1e-9"),
        ("1" + "0" * 5000, "100"),  # 1e5000 in DecimalSI: no suffix beyond E
        ("0." + "0" * 5000 + "1", "1n"),
        ("9" * 5000 + "Ei", "9223372036854775807"),
        # Go keeps only the low 32 bits of an int64 exponent.
        ("1e4294967296", "1e4294967296"),
        ("1e9223372036854775807", "100e-3"),
    ],
    ids=lambda value: value if len(value) < 40 else f"{value[:10]}...{len(value)}",
)
def test_hostile_exponents_and_lengths_stay_cheap(given: str, expected: str) -> None:
    assert canonical(given) == expected


@pytest.mark.parametrize("bad", ["1e99999999999999999999", "1." + "1" * 5000 + "Ki", float("inf"), float("nan"),
                                 10**5000], ids=["exponent", "fraction", "inf", "nan", "int"])
def test_unrepresentable_quantities_are_errors_not_crashes(bad: object) -> None:
    with pytest.raises(QuantityError):
        canonical(bad)  # type: ignore[arg-type]
