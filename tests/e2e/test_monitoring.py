"""deploy/monitoring checked with Prometheus's own tools and the real apiserver.

1. promtool parses every alert and every dashboard query (Grafana variables filled in) as PromQL.
2. promtool's rule unit tests: each alert fires on the series it is about, after its ``for``, with its labels and
   rendered annotations, and stays quiet on healthy series.
3. ``promtool check metrics`` lints the exposition of a running ``injector serve``.
4. The chart's monitoring objects equal ``kubectl kustomize deploy/monitoring``, and both pass server-side
   validation against prometheus-operator's PrometheusRule CRD.
(tests/server/test_metrics_exposition.py checks that every metric and label these queries read is exported.)
"""
from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from controlplane import Binaries, ControlPlane
from deploytools import DeployTools
from manifests import Helm, ensure_namespace, install_crd, kubectl_apply, render_kustomize, without_helm_labels
from tests.server.serve_process import free_port, start_serve, wait_ready

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$revision": ".*"}


def rules() -> dict:
    return yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append(expr)
    return queries


def promtool(tools: DeployTools, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools.promtool), *args], capture_output=True, text=True, input=input)


def test_promtool_parses_every_alert_and_dashboard_query(deploy_tools: DeployTools, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules()))
    recording = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(dashboard_queries())]}]}
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(recording))
    out = promtool(deploy_tools, "check", "rules", str(tmp_path / "alerts.yaml"), str(tmp_path / "dashboard.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout and f"SUCCESS: {len(recording['groups'][0]['rules'])} rules" in (
        out.stdout)


def rendered_annotations(alert: str, substitutions: dict[str, str]) -> dict[str, str]:
    """The alert's annotations with each ``{{ <template> }}`` replaced by what Prometheus must render for it."""
    (rule,) = [r for group in rules()["groups"] for r in group["rules"] if r.get("alert") == alert]
    rendered = {}
    for key, text in rule["annotations"].items():
        for template, value in substitutions.items():
            text = text.replace("{{ " + template + " }}", value)
        assert "{{" not in text, (alert, key, text)
        rendered[key] = text
    return rendered


def alert(name: str, eval_time: str, labels: dict[str, str] | None = None,
          substitutions: dict[str, str] | None = None) -> dict:
    """One alert_rule_test entry; ``labels`` None means the alert must not be firing at ``eval_time``."""
    if labels is None:
        return {"eval_time": eval_time, "alertname": name, "exp_alerts": []}
    return {"eval_time": eval_time, "alertname": name, "exp_alerts": [
        {"exp_labels": labels, "exp_annotations": rendered_annotations(name, substitutions or {})}]}


def test_alerts_fire_as_documented(deploy_tools: DeployTools, tmp_path: Path) -> None:
    canary = {"$labels.revision": "canary"}
    tests = [
        {   # 10% of canary's admissions denied; default healthy. Fires once the ratio held for 10 minutes.
            "interval": "1m",
            "input_series": [
                {"series": 'sidecar_injector_admissions_total{revision="canary",outcome="injected"}', "values": "0+54x30"},
                {"series": 'sidecar_injector_admissions_total{revision="canary",outcome="denied"}', "values": "0+6x30"},
                {"series": 'sidecar_injector_admissions_total{revision="default",outcome="injected"}', "values": "0+60x30"},
            ],
            "alert_rule_test": [
                alert("SidecarInjectorFailureRatioHigh", "8m"),
                alert("SidecarInjectorFailureRatioHigh", "20m", {"severity": "warning", "revision": "canary"},
                      {**canary, "$value | humanizePercentage": "10%"}),
            ],
        },
        {   # Every canary admission between 5 s and 10 s (p99 interpolates to 9.95 s); "fast" well below.
            "interval": "1m",
            "input_series": [
                *[{"series": f'sidecar_injector_admission_duration_seconds_bucket{{revision="canary",le="{le}"}}',
                   "values": values} for le, values in (("0.005", "0x30"), ("5", "0x30"), ("10", "0+10x30"),
                                                         ("+Inf", "0+10x30"))],
                *[{"series": f'sidecar_injector_admission_duration_seconds_bucket{{revision="fast",le="{le}"}}',
                   "values": "0+10x30"} for le in ("0.005", "5", "10", "+Inf")],
            ],
            "alert_rule_test": [
                alert("SidecarInjectorLatencyNearTimeout", "3m"),
                alert("SidecarInjectorLatencyNearTimeout", "15m", {"severity": "critical", "revision": "canary"},
                      {**canary, "$value | humanizeDuration": "9.95s"}),
            ],
        },
        {   # canary's latest change rejected from minute 2 on; default fine.
            "interval": "1m",
            "input_series": [
                {"series": 'sidecar_injector_config_rejected{revision="canary",instance="a"}', "values": "0 0 1x20"},
                {"series": 'sidecar_injector_config_rejected{revision="default",instance="a"}', "values": "0x22"},
            ],
            "alert_rule_test": [
                alert("SidecarInjectorConfigRejected", "5m"),
                alert("SidecarInjectorConfigRejected", "10m", {"severity": "warning", "revision": "canary"}, canary),
            ],
        },
        {   # Two replicas ready, then none ready from minute 10 on.
            "interval": "1m",
            "input_series": [
                {"series": 'sidecar_injector_ready{instance="a"}', "values": "1x9 0x20"},
                {"series": 'sidecar_injector_ready{instance="b"}', "values": "1x9 0x20"},
            ],
            "alert_rule_test": [
                alert("SidecarInjectorNoReadyReplica", "9m"),
                alert("SidecarInjectorNoReadyReplica", "15m", {"severity": "critical"}),
            ],
        },
        {   # No replica scraped at all (the readiness series is absent).
            "interval": "1m",
            "input_series": [{"series": 'sidecar_injection_requests_total{instance="a"}', "values": "0x10"}],
            "alert_rule_test": [alert("SidecarInjectorNoReadyReplica", "5m", {"severity": "critical"})],
        },
    ]
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules()))
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["alerts.yaml"], "evaluation_interval": "1m", "tests": tests}))
    out = promtool(deploy_tools, "test", "rules", str(tmp_path / "alerts_test.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


async def test_exposition_of_a_running_server_passes_promtool_lint(
    deploy_tools: DeployTools, control_plane: ControlPlane
) -> None:
    endpoint = control_plane.webhook_endpoint("metrics-lint")
    monitoring = free_port()
    process = await start_serve(endpoint.port, f"--tls-cert-file={endpoint.cert_file}",
                                f"--tls-key-file={endpoint.key_file}", f"--monitoring-port={monitoring}",
                                "--workers=1", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{monitoring}"
        await wait_ready(f"{base}/readyz", process)
        client_tls = ssl.create_default_context(cadata=endpoint.ca_pem.decode())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls)) as session:
            review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "lint", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                "namespace": "lint", "object": {"metadata": {"name": "p", "namespace": "lint"},
                                                "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}
            async with session.post(endpoint.url("/inject"), json=review) as response:
                assert response.status == 200
            async with session.post(endpoint.url("/inject"), data=b"x", headers={"Content-Type": "text/plain"}):
                pass
            async with session.get(f"{base}/metrics", headers={"Accept": "text/plain"}) as response:
                text = await response.text()
    finally:
        process.terminate()
        await process.wait()
    assert 'sidecar_injector_admissions_total{outcome="injected",revision="default"}' in text
    # promtool lints the Prometheus text format only (the OpenMetrics form is parsed in tests/server).
    out = promtool(deploy_tools, "check", "metrics", input=text)
    assert out.returncode == 0, out.stdout + out.stderr


async def test_chart_and_kustomize_monitoring_objects_agree_and_validate(
    deploy_tools: DeployTools, control_plane_binaries: Binaries, control_plane: ControlPlane, kube_api: Any,
    tmp_path: Path,
) -> None:
    kustomize = render_kustomize(control_plane_binaries, MONITORING)
    chart = Helm(deploy_tools.helm, tmp_path).template({
        "monitoring": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}})
    monitoring_kinds = {"PrometheusRule", ("ConfigMap", "sidecar-injector-dashboard")}
    from_chart = {key: obj for key, obj in without_helm_labels(chart).items()
                  if key[0] in monitoring_kinds or key in monitoring_kinds}
    assert without_helm_labels(kustomize) == from_chart
    assert sorted(from_chart) == [("ConfigMap", "sidecar-injector-dashboard"), ("PrometheusRule", "sidecar-injector")]

    await ensure_namespace(kube_api)
    install_crd(control_plane, deploy_tools.prometheusrule_crd)
    for rendered in (kustomize, list(from_chart.values())):
        out = kubectl_apply(control_plane, rendered, "--dry-run=server")
        assert out.count("serverside-applied (server dry run)") == 2, out
