"""The parts of bench/vs_istio that decide what is compared and counted (no Go peers needed)."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import orjson
import pytest

from bench.vs_istio import compare, peers, procstat, run, scenarios  # noqa: F401  (run: it must import)


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_request_of_a_scenario_is_distinct_by_uid_and_well_formed(name: str) -> None:
    bodies = scenarios.build(name)
    requests = [scenarios.request_for(bodies, seq) for seq in range(2 * len(bodies))]
    uids = {uid for _, uid in requests}
    assert len(uids) == len(requests)
    for body, uid in requests:
        review = orjson.loads(body)
        assert review["request"]["uid"] == uid
        assert scenarios.TOKEN.encode() not in body
        assert review["request"]["object"]["kind"] == "Pod"


def test_distinct_pods_differ_in_what_the_sidecar_renders_from() -> None:
    bodies = scenarios.build("distinct")
    first = orjson.loads(scenarios.request_for(bodies, 1)[0])["request"]["object"]
    again = orjson.loads(scenarios.request_for(bodies, 1 + len(bodies))[0])["request"]["object"]
    assert first["metadata"]["labels"]["app"] != again["metadata"]["labels"]["app"]
    assert first["spec"]["containers"][0]["name"] != again["spec"]["containers"][0]["name"]


def test_replicas_send_one_pod_and_env2000_a_different_pod_each_time() -> None:
    replicas = scenarios.build("replicas")
    pods = {orjson.dumps(orjson.loads(scenarios.request_for(replicas, seq)[0])["request"]["object"])
            for seq in range(5)}
    assert len(pods) == 1
    large = scenarios.build("env2000")
    envs = [orjson.loads(scenarios.request_for(large, seq)[0])["request"]["object"]["spec"]["containers"][0]["env"]
            for seq in (3, 3 + len(large))]
    assert len(envs[0]) == 2000 and envs[0] != envs[1]


def test_mixed_follows_the_load_test_weights() -> None:
    kinds = []
    for body in scenarios.mixed():
        pod = orjson.loads(body)["request"]["object"]
        env = pod["spec"]["containers"][0].get("env") or []
        kinds.append("env2000" if len(env) == 2000 else "distinct" if "name" in pod["metadata"] else "replicas")
    assert (kinds.count("replicas"), kinds.count("distinct"), kinds.count("env2000")) == (60, 30, 10)


def _reply(patch: list[dict]) -> dict:
    return {"allowed": True, "patch": base64.b64encode(orjson.dumps(patch)).decode()}


def test_patched_pods_are_compared_as_json_values() -> None:
    body = scenarios.request_for(scenarios.build("replicas"), 0)[0]
    add_label = [{"op": "add", "path": "/metadata/labels/x", "value": "1"}]
    same = compare.patched_pod(body, _reply(add_label))
    assert compare.first_difference(same, compare.patched_pod(body, _reply(add_label))) is None
    other = compare.patched_pod(body, _reply([{"op": "add", "path": "/metadata/labels/x", "value": "2"}]))
    assert compare.first_difference(same, other) == "/metadata/labels/x: '1' vs '2'"
    assert compare.first_difference({"a": [1, 2]}, {"a": [1]}) == "/a: 2 vs 1 items"
    assert compare.first_difference({"a": 1}, {"b": 1}) == "/a: only in first"


def test_a_denied_reply_is_not_a_pod() -> None:
    body = scenarios.request_for(scenarios.build("replicas"), 0)[0]
    with pytest.raises(RuntimeError, match="denied"):
        compare.patched_pod(body, {"allowed": False, "status": {"message": "no"}})


def test_process_tree_cpu_counts_children() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys\n"
                               f"subprocess.run([sys.executable, '-c', {burn!r}])\nimport time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and procstat.cpu_seconds(parent.pid) < 0.3:
            time.sleep(0.05)
        assert procstat.cpu_seconds(parent.pid) >= 0.3  # the child's burn, reaped into the parent's cutime
        rows = procstat.memory(parent.pid)
        assert rows[0].pid == parent.pid and rows[0].rss_kb > 0 and 0 < rows[0].pss_kb <= rows[0].rss_kb
    finally:
        parent.kill()
        parent.wait()


def test_tree_lists_live_descendants() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
                               "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(procstat.tree(parent.pid)) < 2:
            time.sleep(0.05)
        pids = procstat.tree(parent.pid)
        assert pids[0] == parent.pid and len(pids) == 2 and os.getpid() not in pids
    finally:
        for pid in reversed(procstat.tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait()


def test_the_build_module_requires_the_pinned_istio_and_rebuilds_when_sources_change(tmp_path, monkeypatch) -> None:
    assert f"require istio.io/istio {peers.ISTIO_MODULE_VERSION}" in peers._go_mod()
    before = peers.sources_digest()
    copy = tmp_path / "go"
    copy.mkdir()
    for source in peers.GO_SOURCES.rglob("*.go"):
        target = copy / source.relative_to(peers.GO_SOURCES)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    monkeypatch.setattr(peers, "GO_SOURCES", copy)
    assert peers.sources_digest() == before
    loadgen_before = peers._loadgen_digest()
    (copy / "istio-webhook" / "main.go").write_text("package main\n")
    assert peers._loadgen_digest() == loadgen_before  # the load generator alone does not depend on the webhook
    assert peers.sources_digest() != before
    (copy / "loadgen" / "main.go").write_text("package main\n")
    assert peers._loadgen_digest() != loadgen_before
