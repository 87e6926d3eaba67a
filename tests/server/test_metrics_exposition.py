"""/metrics of a running server, parsed with prometheus-client's own parsers: every name, type and label set,
Istio's counting, per-revision labels, the standard collectors, OpenMetrics negotiation, one registry per app."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import orjson
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from tests.fakekube.fixtures import eventually
from tests.server.promql_refs import references
from tests.server.conftest import MakeWebhook, Webhook, metric, pod, review

# Family name (as the text format's TYPE line names it) -> (type, label names of its samples, bucket label aside).
EXPORTED = {
    "sidecar_injection_requests_total": ("counter", set()),
    "sidecar_injection_success_total": ("counter", set()),
    "sidecar_injection_skip_total": ("counter", set()),
    "sidecar_injection_failure_total": ("counter", {"type"}),
    "sidecar_injection_time_seconds": ("histogram", set()),
    "sidecar_injector_admissions_total": ("counter", {"revision", "outcome"}),
    "sidecar_injector_admission_duration_seconds": ("histogram", {"revision"}),
    "sidecar_injector_pool_queue_depth": ("gauge", set()),
    "sidecar_injector_pool_workers_busy": ("gauge", set()),
    "sidecar_injector_pool_worker_restarts_total": ("counter", set()),
    "sidecar_injector_revision_queue_depth": ("gauge", {"revision"}),
    "sidecar_injector_shed_total": ("counter", set()),  # labels reason, revision: nothing is shed here
    "sidecar_injector_pool_workers_resident_memory_bytes": ("gauge", set()),
    "sidecar_injector_ready": ("gauge", set()),
    "sidecar_injector_config_generation": ("gauge", {"revision"}),
    "sidecar_injector_config_reloads_total": ("counter", {"revision"}),
    "sidecar_injector_config_reload_failures_total": ("counter", {"revision"}),
    "sidecar_injector_config_rejected": ("gauge", {"revision"}),
    "sidecar_injector_tls_reloads_total": ("counter", set()),
    "sidecar_injector_tls_reload_failures_total": ("counter", set()),
    "sidecar_injector_stale_pods": ("gauge", set()),  # {status, revision} once /debug/stale has run
    "sidecar_injector_connections_open": ("gauge", {"listener"}),
    "sidecar_injector_connections_refused_total": ("counter", {"listener", "reason"}),
    "sidecar_injector_connections_closed_total": ("counter", {"listener", "reason"}),
}
STANDARD = ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
            "process_start_time_seconds", "python_gc_objects_collected_total", "python_gc_collections_total",
            "python_info")


def write_revision(root: Path, revision: str, values: str = "") -> None:
    directory = root / revision
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in {"config": "policy: enabled\n", "values": values}.items():
        (directory / f".{name}.tmp").write_text(text)
        os.replace(directory / f".{name}.tmp", directory / name)


async def two_revisions(tmp_path: Path, make_webhook: MakeWebhook) -> Webhook:
    root = tmp_path / "revisions"
    write_revision(root, "blue")
    write_revision(root, "green")
    return await make_webhook(config_dir=root, watch_config=True, watch_interval=0.05)


async def test_names_types_and_labels_of_every_family(tmp_path: Path, make_webhook: MakeWebhook) -> None:
    webhook = await two_revisions(tmp_path, make_webhook)
    await webhook.admit(pod(), path="/rev/blue/inject")
    (await webhook.post("/inject", b"")).release()  # labelled families show their labels once they have samples
    refused, closed = webhook.services.metrics.watch_listener("webhook", lambda: 3)  # as GuardedSite reports
    refused("limit")
    closed("evicted")
    write_revision(tmp_path / "revisions", "green", "broken: true\n")
    await eventually(lambda: webhook.services.registry.status("green").last_error is not None)
    async with webhook.session.get(webhook.url("/metrics")) as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    ours = {}
    for name, family in families.items():
        if name.startswith("sidecar_"):
            # The parser drops "_total" from counter family names; the TYPE line keeps it.
            exposed = name + "_total" if family.type == "counter" else name
            labels = set().union(*(sample.labels.keys() for sample in family.samples)) - {"le"}
            ours[exposed] = (family.type, labels)
    assert ours == EXPORTED
    for name in STANDARD:
        assert name in families or name.removesuffix("_total") in families, name
    assert "_created" not in text, "Istio's exporter writes no _created series; neither do we"
    assert metric(text, "sidecar_injector_ready") == 1
    assert metric(text, "process_resident_memory_bytes") > 0
    assert metric(text, "sidecar_injector_pool_workers_resident_memory_bytes") > 0


async def test_istio_counting_and_per_revision_labels(tmp_path: Path, make_webhook: MakeWebhook) -> None:
    webhook = await two_revisions(tmp_path, make_webhook)
    await webhook.admit(pod(), path="/rev/blue/inject")
    await webhook.admit(pod(), path="/rev/blue/inject")
    await webhook.admit(pod(annotations={"sidecar.istio.io/inject": "false"}), path="/rev/green/inject")
    await webhook.admit(pod(annotations={"test/fail": "no"}), path="/rev/green/inject")
    await webhook.admit(pod(), path="/rev/not-a-served-revision-1234/inject")
    (await webhook.post("/inject", b"{}", content_type="text/plain")).release()
    text = await webhook.metrics()

    assert metric(text, "sidecar_injection_requests_total") == 6
    assert metric(text, "sidecar_injection_success_total") == 5, "every AdmissionReview written, denials included"
    assert metric(text, "sidecar_injection_skip_total") == 1
    assert metric(text, 'sidecar_injection_failure_total{type="injection"}') == 1
    assert metric(text, 'sidecar_injection_failure_total{type="unknown_revision"}') == 1
    assert metric(text, 'sidecar_injection_failure_total{type="content_type"}') == 1
    assert metric(text, "sidecar_injection_time_seconds_count") == 6
    assert metric(text, 'sidecar_injector_admissions_total{outcome="injected",revision="blue"}') == 2
    assert metric(text, 'sidecar_injector_admissions_total{outcome="skipped",revision="green"}') == 1
    assert metric(text, 'sidecar_injector_admissions_total{outcome="denied",revision="green"}') == 1
    # A revision name from the URL that is not served never becomes a label value (bounded cardinality).
    assert "not-a-served-revision" not in text
    assert metric(text, 'sidecar_injector_admissions_total{outcome="denied",revision=""}') == 1
    assert metric(text, 'sidecar_injector_admissions_total{outcome="http_error",revision=""}') == 1
    assert metric(text, 'sidecar_injector_admission_duration_seconds_count{revision="blue"}') == 2
    assert metric(text, 'sidecar_injector_admission_duration_seconds_bucket{le="+Inf",revision="green"}') == 2
    for revision in ("blue", "green"):
        assert metric(text, f'sidecar_injector_config_generation{{revision="{revision}"}}') >= 1
        assert metric(text, f'sidecar_injector_config_reloads_total{{revision="{revision}"}}') == 1
        assert f'sidecar_injector_config_rejected{{revision="{revision}"}} 0.0' in text


async def test_rejected_config_gauge_follows_the_latest_change(tmp_path: Path, make_webhook: MakeWebhook) -> None:
    webhook = await two_revisions(tmp_path, make_webhook)
    root = tmp_path / "revisions"
    write_revision(root, "blue", "broken: true\n")
    await eventually(lambda: webhook.services.registry.status("blue").last_error is not None)
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injector_config_rejected{revision="blue"}') == 1
    assert metric(text, 'sidecar_injector_config_reload_failures_total{revision="blue"}') == 1
    assert 'sidecar_injector_config_rejected{revision="green"} 0.0' in text
    write_revision(root, "blue", "fixed: true\n")
    await eventually(lambda: webhook.services.registry.status("blue").last_error is None)
    assert metric(await webhook.metrics(), 'sidecar_injector_config_rejected{revision="blue"}') == 0
    (root / "green" / "config").unlink()
    (root / "green" / "values").unlink()
    (root / "green").rmdir()
    await eventually(lambda: webhook.services.registry.get("green") is None)
    text = await webhook.metrics()
    assert 'sidecar_injector_config_generation{revision="green"}' not in text
    assert 'sidecar_injector_config_rejected{revision="green"}' not in text


async def test_openmetrics_when_the_scraper_asks(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    await webhook.admit(pod())
    accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    async with webhook.session.get(webhook.url("/metrics"), headers={"Accept": accept}) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0;")
        text = await response.text()
    assert text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(text)}
    assert families["sidecar_injection_requests"].type == "counter"
    assert families["sidecar_injection_time_seconds"].type == "histogram"
    requests = [s for s in families["sidecar_injection_requests"].samples if s.name.endswith("_total")]
    assert [s.value for s in requests] == [1.0]


async def test_each_application_has_its_own_registry(make_webhook: MakeWebhook) -> None:
    first = await make_webhook()
    second = await make_webhook()
    await first.admit(pod())
    await first.admit(pod())
    await second.admit(pod())
    assert metric(await first.metrics(), "sidecar_injection_requests_total") == 2
    assert metric(await second.metrics(), "sidecar_injection_requests_total") == 1


async def test_ready_gauge_drops_when_the_pool_is_gone(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    assert metric(await webhook.metrics(), "sidecar_injector_ready") == 1
    await webhook.services.pool.close()
    text = await webhook.metrics()
    assert metric(text, "sidecar_injector_ready") == 0
    assert metric(text, "sidecar_injector_pool_workers_resident_memory_bytes") == 0


async def test_malformed_review_counts_as_denied_without_revision(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook()
    response = await webhook.post("/inject", orjson.dumps({**review(pod()), "request": "not an object"}))
    assert response.status == 200
    text = await webhook.metrics()
    assert metric(text, 'sidecar_injection_failure_total{type="decode"}') == 1
    assert metric(text, 'sidecar_injector_admissions_total{outcome="denied",revision=""}') == 1


MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
TARGET_LABELS = {"job", "instance"}
"""Labels Prometheus adds at scrape time; every other label a query names must come from the injector."""


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            selector, label = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"]).groups()
            queries.append(f"max by ({label}) ({selector})")
    return queries


def rule_queries() -> list[str]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


def exported_series(text: str) -> dict[str, set[str]]:
    """Sample name -> label names, for every sample name the exposition can hold (a histogram's _bucket, _sum,
    _count, a counter's _total), with the labels its samples carry."""
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names = {"counter": [family.name + "_total"],
                 "histogram": [family.name + suffix for suffix in ("_bucket", "_sum", "_count")]}.get(
            family.type, [family.name])
        for name in names:
            exported.setdefault(name, set())
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


async def test_dashboard_and_alerts_query_only_what_a_running_server_exports(
        tmp_path: Path, make_webhook: MakeWebhook) -> None:
    webhook = await two_revisions(tmp_path, make_webhook)
    await webhook.admit(pod(), path="/rev/blue/inject")
    await webhook.admit(pod(annotations={"test/fail": "no"}), path="/rev/green/inject")
    # No time left once the apiserver's margin is taken: shed on arrival (so the shed counter has its labels).
    shed = await webhook.admit(pod(name="late"), path="/rev/blue/inject?timeout=500ms")
    assert "injector overloaded" in shed["response"]["status"]["message"]
    # The test server has no guarded listener (tests/server/test_connections.py drives a real one): report through
    # the hooks the listener uses, so the connection families carry their labels.
    refused, closed = webhook.services.metrics.watch_listener("webhook", lambda: 1)
    refused("tls")
    closed("header_timeout")
    write_revision(tmp_path / "revisions", "green", "broken: true\n")
    await eventually(lambda: webhook.services.registry.status("green").last_error is not None)
    exported = exported_series(await webhook.metrics())

    queries = dashboard_queries() + rule_queries()
    assert len(queries) >= 20
    for query in queries:
        refs = references(query)
        assert refs.selectors, query
        available = set(TARGET_LABELS)
        for name, labels in refs.selectors.items():
            assert name in exported, f"{name} is not exported (query: {query})"
            assert labels <= exported[name] | TARGET_LABELS, (name, labels - exported[name], query)
            available |= exported[name]
        assert refs.grouping <= available, (refs.grouping - available, query)
