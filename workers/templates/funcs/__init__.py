"""The template function map: sprig v3's ``TxtFuncMap()`` with Istio's injection helpers on top, as istiod builds
it (``template.New(...).Funcs(sprig.TxtFuncMap()).Funcs(InjectionFuncmap)``, so Istio's functions win).

Functions are grouped by family in the modules of this package; each declares its Go signature, which the
translator uses to check arguments as Go does. Arguments keep Go's order (``default d v``, ``indent n s``), so a Go
pipeline ``x | f a`` is ``f(a, x)``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from . import crypto, dates, dicts, encoding, istio, lists, misc, numeric, paths, reflection, regex, semver, strings
from .convert import go_empty
from .registry import FuncTable, GoSignature

__all__ = ["FUNCS", "SIGNATURES", "SPRIG_FUNCS", "ISTIO_FUNCS", "go_empty"]

_SPRIG_TABLES: tuple[FuncTable, ...] = (
    strings.SPRIG, numeric.SPRIG, lists.SPRIG, dicts.SPRIG, encoding.SPRIG, paths.SPRIG, reflection.SPRIG,
    regex.SPRIG, semver.SPRIG, dates.SPRIG, crypto.SPRIG, misc.SPRIG,
)


def _merge(tables: tuple[FuncTable, ...]) -> FuncTable:
    merged = FuncTable()
    for table in tables:
        for name, func in table.funcs.items():
            if name in merged.funcs:
                raise ValueError(f"sprig function {name!r} defined twice")
            merged.funcs[name] = func
            merged.signatures[name] = table.signatures[name]
    return merged


_SPRIG = _merge(_SPRIG_TABLES)

#: sprig's TxtFuncMap, by name.
SPRIG_FUNCS: Mapping[str, Callable[..., Any]] = dict(_SPRIG.funcs)
#: Istio's InjectionFuncmap, by name.
ISTIO_FUNCS: Mapping[str, Callable[..., Any]] = dict(istio.ISTIO.funcs)
#: The map templates see: sprig's, with Istio's functions replacing same-named ones.
FUNCS: Mapping[str, Callable[..., Any]] = {**SPRIG_FUNCS, **ISTIO_FUNCS}
#: Go signature of every function in FUNCS.
SIGNATURES: Mapping[str, GoSignature] = {**_SPRIG.signatures, **istio.ISTIO.signatures}
