"""Patches of pods already injected, answered in the event loop without a trip to a render worker.

The pods of one ReplicaSet reach the webhook byte for byte the same: the apiserver calls mutating webhooks before it
fills in ``name`` (from ``generateName``), ``uid`` and ``creationTimestamp``. Injection is a function of the config
generation, the request facts and the pod (the workers' render cache relies on the same), so the patch of such a
pod can be served again from memory: a lookup keyed by the pod's exact JSON bytes instead of a hop to a worker,
decoding, rendering and diffing. The cache is bounded in bytes (keys plus patches), least recently used entries go
first, a pod larger than 1/64 of the bound is not kept, and a retired generation's entries are dropped at once.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from workers.facts import RequestFacts

DEFAULT_MAX_BYTES = 4 << 20
_ENTRY_OVERHEAD = 300
"""Approximate bytes of a cache entry besides its pod and patch (the facts, tuples, dict slot, bytes headers)."""

Key = tuple[int, tuple[Any, ...], bytes]


class PatchCache:
    """LRU map of (generation, facts, pod JSON) -> patch bytes, at most ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Key, bytes] = OrderedDict()

    @property
    def max_entry_bytes(self) -> int:
        """An entry costing more than this is not kept: a pod this large (thousands of env vars) must not flush
        the many ordinary ones."""
        return self.max_bytes // 64

    def key(self, generation: int, facts: RequestFacts, pod_json: bytes) -> Key | None:
        """None for a pod too large to be kept (it is never looked up either: hashing it would be wasted). Facts
        hold a dict, so they are not hashable themselves: their ``identity`` stands for them."""
        if len(pod_json) > self.max_entry_bytes:
            return None
        return generation, facts.identity(), pod_json

    def get(self, key: Key | None) -> bytes | None:
        if key is None:
            return None
        patch = self._entries.get(key)
        if patch is not None:
            self._entries.move_to_end(key)
        return patch

    def put(self, key: Key | None, patch: bytes) -> None:
        if key is None:
            return
        cost = _cost(key, patch)
        if cost > self.max_entry_bytes or key in self._entries:
            return
        self._entries[key] = patch
        self.size += cost
        while self.size > self.max_bytes:
            old_key, old_patch = self._entries.popitem(last=False)
            self.size -= _cost(old_key, old_patch)

    def forget(self, generation: int) -> None:
        """Drop every entry of a generation no request will use again."""
        for key in [key for key in self._entries if key[0] == generation]:
            self.size -= _cost(key, self._entries.pop(key))

    def __len__(self) -> int:
        return len(self._entries)


def _cost(key: Key, patch: bytes) -> int:
    return len(key[2]) + len(patch) + _ENTRY_OVERHEAD
