"""The generic informer against the fake apiserver, over real HTTP: list, watch, resume, 410, bookmarks, barrier."""
from __future__ import annotations

import asyncio
import functools
from typing import AsyncIterator, Callable

import pytest
from kubernetes_asyncio import client as k8s

from injector.sources.informer import Backoff, Informer
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_BACKOFF, api_client, eventually, fake_kube, kubeconfig  # noqa: F401

NS = "istio-system"
JSONEvent = tuple[str, str, str]  # (type, name, data["v"])


def cm(name: str, value: str = "1", labels: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {"v": value}}


class Recorder:
    """The handler: remembers (type, name, value) in delivery order."""

    def __init__(self) -> None:
        self.events: list[JSONEvent] = []

    async def __call__(self, event_type: str, obj: dict) -> None:
        self.events.append((event_type, obj["metadata"]["name"], obj["data"]["v"]))


@pytest.fixture
async def make_informer(api_client: k8s.ApiClient) -> AsyncIterator[Callable[..., Informer]]:  # noqa: F811
    """Build informers over the ConfigMaps of NS; all are stopped at teardown."""
    informers: list[Informer] = []

    def make(on_event=None, **options) -> Informer:
        options.setdefault("backoff", FAST_BACKOFF)
        list_func = functools.partial(k8s.CoreV1Api(api_client).list_namespaced_config_map, NS)
        informer = Informer(list_func, name="test", on_event=on_event, **options)
        informers.append(informer)
        informer.start()
        return informer

    yield make
    await asyncio.gather(*(informer.stop() for informer in informers))


async def test_list_then_watch_populates_cache_and_delivers_events(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    fake_kube.create("configmaps", cm("a"), NS)
    fake_kube.create("configmaps", cm("b"), NS)
    fake_kube.create("configmaps", cm("elsewhere"), "other")
    recorder = Recorder()
    informer = make_informer(recorder)
    await informer.wait_synced(5)
    assert sorted(informer.cache) == [f"{NS}/a", f"{NS}/b"]
    assert informer.resource_version == str(fake_kube.resource_version)
    assert informer.get(f"{NS}/a")["kind"] == "ConfigMap"  # list items get kind/apiVersion filled in

    await fake_kube.wait_for_watches("configmaps")
    fake_kube.create("configmaps", cm("c"), NS)
    fake_kube.update("configmaps", cm("a", "2"), NS)
    fake_kube.delete("configmaps", "b", NS)
    await eventually(lambda: len(recorder.events) == 5)
    assert recorder.events == [("ADDED", "a", "1"), ("ADDED", "b", "1"), ("ADDED", "c", "1"),
                               ("MODIFIED", "a", "2"), ("DELETED", "b", "1")]
    assert sorted(informer.cache) == [f"{NS}/a", f"{NS}/c"]
    assert informer.resource_version == str(fake_kube.resource_version)


async def test_updates_arrive_in_order(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    recorder = Recorder()
    informer = make_informer(recorder)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.create("configmaps", cm("counter", "0"), NS)
    for i in range(1, 101):
        fake_kube.update("configmaps", cm("counter", str(i)), NS)
    await eventually(lambda: len(recorder.events) == 101)
    assert [v for _, _, v in recorder.events] == [str(i) for i in range(101)]


async def test_cut_watch_resumes_from_last_resource_version_and_misses_nothing(fake_kube: FakeKube,
                                                                                make_informer) -> None:  # noqa: F811
    fake_kube.create("configmaps", cm("a"), NS)
    fake_kube.create("configmaps", cm("b"), NS)
    recorder = Recorder()
    # A slow first retry guarantees the changes below happen while no watch is connected.
    informer = make_informer(recorder, backoff=Backoff(initial=0.3, maximum=0.3, jitter=0.0))
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.update("configmaps", cm("a", "2"), NS)
    await eventually(lambda: len(recorder.events) == 3)
    seen_rv = informer.resource_version

    assert fake_kube.cut_watches() == 1
    fake_kube.create("configmaps", cm("c"), NS)
    fake_kube.update("configmaps", cm("a", "3"), NS)
    fake_kube.delete("configmaps", "b", NS)
    fake_kube.create("configmaps", cm("d"), NS)
    fake_kube.delete("configmaps", "d", NS)
    assert fake_kube.watch_count("configmaps") == 0

    await eventually(lambda: len(recorder.events) == 8)
    assert recorder.events[3:] == [("ADDED", "c", "1"), ("MODIFIED", "a", "3"), ("DELETED", "b", "1"),
                                   ("ADDED", "d", "1"), ("DELETED", "d", "1")]
    watches = fake_kube.watch_requests("configmaps")
    assert [w.query["resourceVersion"] for w in watches] == [watches[0].query["resourceVersion"], seen_rv]
    assert len(fake_kube.list_requests("configmaps")) == 1  # resumed, not re-listed
    assert sorted(informer.cache) == [f"{NS}/a", f"{NS}/c"]


async def test_expired_resource_version_relists_and_synthesises_the_difference(fake_kube: FakeKube,
                                                                              make_informer) -> None:  # noqa: F811
    for name in ("a", "b", "c"):
        fake_kube.create("configmaps", cm(name), NS)
    recorder = Recorder()
    informer = make_informer(recorder)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")

    fake_kube.cut_watches()
    fake_kube.delete("configmaps", "b", NS)
    fake_kube.update("configmaps", cm("a", "2"), NS)
    fake_kube.create("configmaps", cm("d"), NS)
    fake_kube.create("configmaps", cm("short-lived"), NS)
    fake_kube.delete("configmaps", "short-lived", NS)
    fake_kube.compact()  # the history the client would resume from is gone: 410 Expired

    await eventually(lambda: len(fake_kube.list_requests("configmaps")) == 2)
    await eventually(lambda: len(recorder.events) == 6)
    assert recorder.events[:3] == [("ADDED", "a", "1"), ("ADDED", "b", "1"), ("ADDED", "c", "1")]
    # Upserts in list order, then deletions with the last state we knew.
    assert recorder.events[3:] == [("MODIFIED", "a", "2"), ("ADDED", "d", "1"), ("DELETED", "b", "1")]
    assert sorted(informer.cache) == [f"{NS}/a", f"{NS}/c", f"{NS}/d"]

    await fake_kube.wait_for_watches("configmaps")
    fake_kube.update("configmaps", cm("c", "2"), NS)  # and the new watch is live
    await eventually(lambda: recorder.events[-1] == ("MODIFIED", "c", "2"))


async def test_http_410_on_watch_start_also_relists(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    recorder = Recorder()
    informer = make_informer(recorder)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.fail_next(1, status=410)
    fake_kube.cut_watches()
    await eventually(lambda: len(fake_kube.list_requests("configmaps")) == 2)
    await fake_kube.wait_for_watches("configmaps")


async def test_bookmarks_advance_the_resource_version(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    informer = make_informer(Recorder())
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    listed_rv = informer.resource_version
    for i in range(3):  # other kinds move the global resourceVersion; our watch sees nothing of it
        fake_kube.create("namespaces", {"metadata": {"name": f"ns{i}"}})
    assert informer.resource_version == listed_rv

    fake_kube.send_bookmarks()
    await eventually(lambda: informer.resource_version == str(fake_kube.resource_version))
    assert informer.resource_version != listed_rv

    # Thanks to the bookmark, a resume after compaction is still valid: no re-list needed.
    fake_kube.compact()
    fake_kube.cut_watches()
    await eventually(lambda: len(fake_kube.watch_requests("configmaps")) == 2)
    await fake_kube.wait_for_watches("configmaps")
    assert fake_kube.watch_requests("configmaps")[1].query["resourceVersion"] == str(fake_kube.resource_version)
    assert len(fake_kube.list_requests("configmaps")) == 1


async def test_label_selector_transitions_become_added_and_deleted(fake_kube: FakeKube,
                                                                  make_informer) -> None:  # noqa: F811
    recorder = Recorder()
    informer = make_informer(recorder, label_selector="pick=yes")
    fake_kube.create("configmaps", cm("x", "1", {"pick": "no"}), NS)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.update("configmaps", cm("x", "2", {"pick": "yes"}), NS)
    fake_kube.update("configmaps", cm("x", "3", {"pick": "no"}), NS)
    await eventually(lambda: len(recorder.events) == 2)
    assert recorder.events == [("ADDED", "x", "2"), ("DELETED", "x", "3")]
    assert informer.cache == {}


async def test_server_side_timeout_reconnects_from_last_resource_version(fake_kube: FakeKube,
                                                                        make_informer) -> None:  # noqa: F811
    recorder = Recorder()
    informer = make_informer(recorder, watch_timeout=1, healthy_after=0.5)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.create("configmaps", cm("a"), NS)
    rv = str(fake_kube.resource_version)
    await eventually(lambda: len(fake_kube.watch_requests("configmaps")) == 2, timeout=5)
    assert fake_kube.watch_requests("configmaps")[1].query["resourceVersion"] == rv
    assert recorder.events == [("ADDED", "a", "1")]


async def test_failed_lists_are_retried_and_gate_the_sync_barrier(fake_kube: FakeKube,
                                                                 make_informer) -> None:  # noqa: F811
    fake_kube.create("configmaps", cm("a"), NS)
    fake_kube.fail_next(3, status=503)
    informer = make_informer(Recorder(), backoff=Backoff(initial=0.05, maximum=0.05, jitter=0.0))
    await asyncio.sleep(0.02)
    assert not informer.synced
    await informer.wait_synced(5)
    assert len(fake_kube.list_requests("configmaps")) == 4


async def test_sync_barrier_waits_for_the_first_handlers(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    fake_kube.create("configmaps", cm("a"), NS)
    release = asyncio.Event()

    async def slow_handler(event_type: str, obj: dict) -> None:
        await release.wait()

    informer = make_informer(slow_handler)
    with pytest.raises(TimeoutError):
        await informer.wait_synced(0.3)
    assert not informer.synced and len(informer.cache) == 1
    release.set()
    await informer.wait_synced(5)
    assert informer.synced


async def test_a_failing_handler_does_not_stop_the_stream(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    seen: list[str] = []

    async def handler(event_type: str, obj: dict) -> None:
        seen.append(obj["metadata"]["name"])
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("consumer bug")

    informer = make_informer(handler)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    fake_kube.create("configmaps", cm("bad"), NS)
    fake_kube.create("configmaps", cm("good"), NS)
    await eventually(lambda: seen == ["bad", "good"])
    assert sorted(informer.cache) == [f"{NS}/bad", f"{NS}/good"]


async def test_stop_closes_the_watch_and_silences_handlers(fake_kube: FakeKube, make_informer) -> None:  # noqa: F811
    recorder = Recorder()
    informer = make_informer(recorder)
    await informer.wait_synced(5)
    await fake_kube.wait_for_watches("configmaps")
    await informer.stop()
    fake_kube.create("configmaps", cm("late"), NS)
    await eventually(lambda: fake_kube.watch_count("configmaps") == 0)
    await asyncio.sleep(0.05)
    assert recorder.events == []


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, factor=2.0, jitter=0.2)
    for attempt, base in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = {backoff.delay(attempt) for _ in range(50)}
        assert all(base <= d <= base * 1.2 for d in delays)
        assert len(delays) > 1
    assert backoff.delay(10_000) <= 4.8
