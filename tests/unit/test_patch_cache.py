"""The front end's patch cache: keyed by everything an injection depends on, bounded in bytes, LRU."""
from __future__ import annotations

from injector.patch_cache import PatchCache, _cost
from workers.facts import RequestFacts


def _key(generation: int = 1, pod: bytes = b'{"a":1}', **facts: object) -> tuple[int, bytes, bytes]:
    key = PatchCache().key(generation, RequestFacts(**facts), pod)
    assert key is not None
    return key


def test_hits_need_the_same_generation_facts_and_pod_bytes() -> None:
    cache = PatchCache()
    cache.put(_key(), b"patch")
    assert cache.get(_key()) == b"patch"
    assert cache.get(_key(generation=2)) is None
    assert cache.get(_key(pod=b'{"a":2}')) is None
    assert cache.get(_key(path_env={"ISTIO_META_CLUSTER_ID": "c1"})) is None
    assert cache.get(_key(native_sidecars=True)) is None


def test_size_is_bounded_in_bytes_least_recently_used_first() -> None:
    pods = [f"{n:03d}".encode() * 40 for n in range(65)]
    one = _cost(_key(pod=pods[0]), b"p" * 100)
    cache = PatchCache(max_bytes=64 * one)
    for pod in pods[:64]:
        cache.put(_key(pod=pod), b"p" * 100)
    assert cache.get(_key(pod=pods[0])) is not None  # now the most recently used
    cache.put(_key(pod=pods[64]), b"p" * 100)
    assert len(cache) == 64 and cache.size <= cache.max_bytes
    assert cache.get(_key(pod=pods[1])) is None
    assert cache.get(_key(pod=pods[0])) is not None


def test_an_entry_larger_than_a_sixty_fourth_is_not_kept() -> None:
    cache = PatchCache(max_bytes=64_000)
    cache.put(_key(pod=b"x" * 2000), b"p")
    assert len(cache) == 0 and cache.size == 0


def test_a_pod_over_the_entry_bound_gets_no_key_and_is_neither_looked_up_nor_kept() -> None:
    cache = PatchCache(max_bytes=64_000)
    assert cache.key(1, RequestFacts(), b"x" * 1001) is None
    assert cache.key(1, RequestFacts(), b"x" * 900) is not None
    cache.put(None, b"patch")
    assert cache.get(None) is None and len(cache) == 0


def test_forget_drops_one_generation() -> None:
    cache = PatchCache()
    cache.put(_key(generation=1), b"old")
    cache.put(_key(generation=2), b"new")
    cache.forget(1)
    assert cache.get(_key(generation=1)) is None and cache.get(_key(generation=2)) == b"new"
    assert cache.size == _cost(_key(generation=2), b"new")


def test_facts_identity_tells_every_field_apart() -> None:
    """The cache key stands for the facts by their identity: a field it missed would serve one pod's patch to
    another whose facts differ."""
    import dataclasses

    base = RequestFacts()
    changed = {"namespace": "ns", "revision": "canary", "path_env": {"ISTIO_META_NETWORK": "n1"},
               "native_sidecars": True, "proxy_uid": 1000, "proxy_gid": 1000, "compliance_policy": "fips-140-2",
               "platform": "openshift", "webhook": False}
    assert set(changed) == {field.name for field in dataclasses.fields(RequestFacts)}
    for name, value in changed.items():
        assert dataclasses.replace(base, **{name: value}).identity() != base.identity(), name
    assert RequestFacts(path_env={"A": "1"}).identity() == RequestFacts(path_env={"A": "1"}).identity()
    hash(RequestFacts(path_env={"A": "1"}).identity())
