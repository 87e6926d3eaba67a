"""``semver`` and ``semverCompare`` with Masterminds/semver v3 rules (the version Istio's go.mod pins): loose
version parsing (``v`` prefix, missing minor/patch), constraint syntax (``||``, commas, ``x``/``*`` wildcards,
hyphen ranges, ``~``, ``^``, ``!=``), and its prerelease rule (a prerelease only satisfies constraints that
mention one). Its own patterns run on RE2, like Go's regexp."""
from __future__ import annotations

from dataclasses import dataclass
from workers.templates.govalues import Uint64, go_bytes

from .regex import compile_regex
from .registry import FuncTable

SPRIG = FuncTable()
go = SPRIG.go

_MAX_VERSION_LEN = 256
_MAX_CONSTRAINT_LEN = 512
_MAX_GROUPS = 32
_LOOSE = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
_CV = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")
_MAX_U64 = (1 << 64) - 1


class SemverError(ValueError):
    pass


def _parse_u64(text: str) -> int:
    value = int(text)
    if value > _MAX_U64:
        raise SemverError(f"error parsing version segment: strconv.ParseUint: parsing {text!r}: value out of range")
    return value


def _validate_prerelease(p: str) -> None:
    for part in p.split("."):
        if part == "":
            raise SemverError("invalid prerelease string")
        if part.isascii() and part.isdigit():
            if len(part) > 1 and part[0] == "0":
                raise SemverError("version segment starts with 0")
        elif not all(c in _ALLOWED for c in part):
            raise SemverError("invalid prerelease string")


def _validate_metadata(m: str) -> None:
    for part in m.split("."):
        if part == "" or not all(c in _ALLOWED for c in part):
            raise SemverError("invalid metadata string")


@dataclass(frozen=True)
class Version:
    """``*semver.Version``: prints as its normalised ``String()``; the template can call its methods."""
    major: int
    minor: int
    patch: int
    pre: str
    metadata: str
    original: str

    go_type = "*semver.Version"
    # Methods a template can call, with their number of arguments: ``(semver "1.2.3").Major``.
    go_methods = {"Major": 0, "Minor": 0, "Patch": 0, "Prerelease": 0, "Metadata": 0, "Original": 0, "String": 0,
                  "Compare": 1, "LessThan": 1, "GreaterThan": 1, "Equal": 1}
    go_kind = "ptr"

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + self.pre
        if self.metadata:
            text += "+" + self.metadata
        return text

    def go_json(self) -> str:
        return str(self)

    def Major(self) -> Uint64:  # noqa: N802 - Go method names
        return Uint64(self.major)

    def Minor(self) -> Uint64:  # noqa: N802
        return Uint64(self.minor)

    def Patch(self) -> Uint64:  # noqa: N802
        return Uint64(self.patch)

    def Prerelease(self) -> str:  # noqa: N802
        return self.pre

    def Metadata(self) -> str:  # noqa: N802
        return self.metadata

    def Original(self) -> str:  # noqa: N802
        return self.original

    def String(self) -> str:  # noqa: N802
        return str(self)

    def Compare(self, other: "Version") -> int:  # noqa: N802
        return compare(self, other)

    def LessThan(self, other: "Version") -> bool:  # noqa: N802
        return compare(self, other) < 0

    def GreaterThan(self, other: "Version") -> bool:  # noqa: N802
        return compare(self, other) > 0

    def Equal(self, other: "Version") -> bool:  # noqa: N802
        return compare(self, other) == 0




def new_version(v: str) -> Version:
    """``semver.NewVersion`` (coercing): loose syntax, missing minor/patch are 0."""
    if len(go_bytes(v)) > _MAX_VERSION_LEN:
        raise SemverError(f"version string is too long (max {_MAX_VERSION_LEN} bytes)")
    m = compile_regex("^" + _LOOSE + "$").search(v)
    if m is None:
        raise SemverError("invalid semantic version")
    pre, metadata = m.group(5) or "", m.group(8) or ""
    version = Version(_parse_u64(m.group(1)), _parse_u64((m.group(2) or ".0")[1:]),
                      _parse_u64((m.group(3) or ".0")[1:]), pre, metadata, v)
    if pre:
        _validate_prerelease(pre)
    if metadata:
        _validate_metadata(metadata)
    return version


def _compare_pre_part(s: str, o: str) -> int:
    if s == o:
        return 0
    if s == "":
        return -1 if o != "" else 1
    if o == "":
        return 1 if s != "" else -1
    s_num = s.isascii() and s.isdigit() and int(s) <= _MAX_U64
    o_num = o.isascii() and o.isdigit() and int(o) <= _MAX_U64
    if not s_num and not o_num:
        return 1 if s > o else -1
    if not o_num:
        return -1
    if not s_num:
        return 1
    return 1 if int(s) > int(o) else -1


def _compare_pre(a: str, b: str) -> int:
    sp, op = a.split("."), b.split(".")
    for i in range(max(len(sp), len(op))):
        d = _compare_pre_part(sp[i] if i < len(sp) else "", op[i] if i < len(op) else "")
        if d:
            return d
    return 0


def compare(v: Version, o: Version) -> int:
    for a, b in ((v.major, o.major), (v.minor, o.minor), (v.patch, o.patch)):
        if a != b:
            return -1 if a < b else 1
    if not v.pre and not o.pre:
        return 0
    if not v.pre:
        return 1
    if not o.pre:
        return -1
    return _compare_pre(v.pre, o.pre)


@dataclass(frozen=True)
class _Constraint:
    con: Version
    orig: str
    op: str
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool


def _is_x(s: str) -> bool:
    return s in ("x", "*", "X")


def _parse_constraint(c: str) -> _Constraint:
    m = compile_regex(rf"^\s*({_OPS})\s*({_CV})\s*$").search(c)
    if m is None:
        raise SemverError(f"improper constraint: {c!r}")
    orig, op = m.group(2), m.group(1)
    major, minor, patch, pre = m.group(3), m.group(4) or "", m.group(5) or "", m.group(6) or ""
    dirty = minor_dirty = patch_dirty = False
    ver = orig
    if _is_x(major) or major == "":
        ver, dirty = f"0.0.0{pre}", True
    elif _is_x(minor[1:]) or minor == "":
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif _is_x(patch[1:]) or patch == "":
        ver, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        con = new_version(ver)
    except SemverError:
        raise SemverError("constraint parser error") from None
    return _Constraint(con, orig, op, dirty, minor_dirty, patch_dirty)


def _rewrite_ranges(c: str) -> str:
    """``1.2 - 1.4`` -> ``>= 1.2, <= 1.4``."""
    rx = compile_regex(rf"\s*({_CV})\s+-\s+({_CV})\s*")
    out = c
    for m in list(rx.finditer(c)):
        out = out.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)} ", 1)
    return out


def _check(v: Version, c: _Constraint, include_pre: bool) -> bool:
    if v.pre and not include_pre:
        return False
    con, op = c.con, c.op
    if op in ("", "="):
        return _tilde(v, c) if c.dirty else compare(v, con) == 0
    if op == "!=":
        if c.dirty:
            if con.major != v.major:
                return True
            if con.minor != v.minor and not c.minor_dirty:
                return True
            if c.minor_dirty:
                return False
            if con.patch != v.patch and not c.patch_dirty:
                return True
            if c.patch_dirty:
                if v.pre or con.pre:
                    return _compare_pre(v.pre, con.pre) != 0
                return False
        return compare(v, con) != 0
    if op == ">":
        if not c.dirty:
            return compare(v, con) == 1
        if v.major > con.major:
            return True
        if v.major < con.major or c.minor_dirty:
            return False
        if c.patch_dirty:
            return v.minor > con.minor
        return compare(v, con) == 1
    if op == "<":
        return compare(v, con) < 0
    if op in (">=", "=>"):
        return compare(v, con) >= 0
    if op in ("<=", "=<"):
        if not c.dirty:
            return compare(v, con) <= 0
        if v.major > con.major:
            return False
        return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)
    if op in ("~", "~>"):
        return _tilde(v, c)
    return _caret(v, c)


def _tilde(v: Version, c: _Constraint) -> bool:
    con = c.con
    if compare(v, con) < 0:
        return False
    if con.major == con.minor == con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _caret(v: Version, c: _Constraint) -> bool:
    con = c.con
    if compare(v, con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return con.patch == v.patch


def new_constraint(text: str) -> list[tuple[list[_Constraint], bool]]:
    """``semver.NewConstraint``: OR-groups of AND-ed constraints, each with whether it mentions a prerelease."""
    if len(go_bytes(text)) > _MAX_CONSTRAINT_LEN:
        raise SemverError(f"constraint string is too long (max {_MAX_CONSTRAINT_LEN} bytes)")
    text = _rewrite_ranges(text)
    ors = text.split("||")
    if len(ors) > _MAX_GROUPS:
        raise SemverError(f"too many constraint groups (max {_MAX_GROUPS})")
    valid = compile_regex(rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$")
    find = compile_regex(rf"({_OPS})\s*({_CV})")
    groups = []
    for part in ors:
        if valid.search(part) is None:
            raise SemverError(f"improper constraint: {part!r}")
        found = [m.group(0) for m in find.finditer(part)] or [part]
        constraints = [_parse_constraint(s) for s in found]
        groups.append((constraints, any(c.con.pre for c in constraints)))
    return groups


@go("func(string, string) (bool, error)", "semverCompare")
def semver_compare(constraint: str, version: str) -> bool:
    groups = new_constraint(constraint)
    v = new_version(version)
    return any(all(_check(v, c, has_pre) for c in cs) for cs, has_pre in groups)


@go("func(string) (*semver.Version, error)", "semver")
def semver(version: str) -> Version:
    return new_version(version)


__all__ = ["SPRIG", "SemverError", "Version", "new_version"]

