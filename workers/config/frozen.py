"""A read-only, picklable mapping for config snapshots (``MappingProxyType`` cannot be pickled to workers)."""
from __future__ import annotations

from typing import Any, NoReturn


class FrozenDict(dict):
    """A dict that refuses mutation after construction, so a shared snapshot cannot be changed by accident."""

    __slots__ = ()

    def _readonly(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("configuration snapshots are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))
