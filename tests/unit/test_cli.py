"""The ``injector kube-inject`` and ``injector check`` commands as a user runs them (real subprocesses)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "deployment.yaml"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "injector.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_kube_inject_example_with_embedded_default() -> None:
    result = run("kube-inject", "-f", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0]["kind"] == "Service" and docs[-1] is None  # passthrough first, trailing separator
    pod_spec = docs[1]["spec"]["template"]["spec"]
    names = [c["name"] for c in pod_spec["containers"]] + [c["name"] for c in pod_spec.get("initContainers", [])]
    assert "istio-proxy" in names and "istio-init" in names
    annotations = docs[1]["spec"]["template"]["metadata"]["annotations"]
    assert json.loads(annotations["sidecar.istio.io/status"])["revision"] == "default"
    # the passthrough document is copied byte for byte, as istioctl does
    assert result.stdout.startswith(EXAMPLE.read_text().split("---\n")[0] + "---\n")


def test_kube_inject_stdin_output_file_and_revision(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    result = run("kube-inject", "-f", "-", "-o", str(out), "--revision", "canary", stdin=EXAMPLE.read_text())
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    deployment = list(yaml.safe_load_all(out.read_text()))[1]
    meta = deployment["spec"]["template"]["metadata"]
    assert meta["annotations"]["istio.io/rev"] == "canary"
    assert json.loads(meta["annotations"]["sidecar.istio.io/status"])["revision"] == "canary"


def test_kube_inject_error_names_document_and_writes_nothing(tmp_path: Path) -> None:
    bad = EXAMPLE.read_text() + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n" \
        "    inject.istio.io/templates: nosuch\nspec:\n  containers:\n  - name: a\n    image: a\n"
    out = tmp_path / "out.yaml"
    result = run("kube-inject", "-f", "-", "-o", str(out), stdin=bad)
    assert result.returncode != 0
    assert "document 3 (Pod)" in result.stderr and 'requested template "nosuch" not found' in result.stderr
    assert not out.exists() and result.stdout == ""


def test_kube_inject_wrong_field_type_names_the_document() -> None:
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: \"x\"\n"
    result = run("kube-inject", "-f", "-", stdin=EXAMPLE.read_text() + "---\n" + deployment)
    assert result.returncode != 0 and result.stdout == ""
    assert "document 3 (Deployment)" in result.stderr and "replicas" in result.stderr
    assert "Traceback" not in result.stderr


def test_kube_inject_invalid_yaml_is_a_clear_error() -> None:
    result = run("kube-inject", "-f", "-", stdin="kind: Pod\nmetadata: [\n")
    assert result.returncode != 0 and "document 1" in result.stderr and "invalid YAML" in result.stderr


def test_kube_inject_host_network_skip_warns_and_copies(tmp_path: Path) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\nspec:\n  hostNetwork: true\n" \
          "  containers:\n  - name: a\n    image: a\n"
    result = run("kube-inject", "-f", "-", stdin=pod)
    assert result.returncode == 0
    assert 'Skipping injection because Pod "ns/p" has host networking enabled' in result.stderr
    assert "istio-proxy" not in result.stdout


def test_kube_inject_with_istio_go_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("templates:\n  sidecar: |\n    spec:\n      containers:\n      - name: istio-proxy\n"
                      "        image: {{ .Values.global.hub }}/proxy:{{ .Revision | default \"x\" }}\n")
    result = run("kube-inject", "-f", str(EXAMPLE), "--injectConfigFile", str(config))
    assert result.returncode == 0, result.stderr
    containers = list(yaml.safe_load_all(result.stdout))[1]["spec"]["template"]["spec"]["containers"]
    proxy = next(c for c in containers if c["name"] == "istio-proxy")
    assert proxy["image"] == "docker.io/istio/proxy:x"  # Go template, embedded values (hub), revision "" -> "x"


def test_kube_inject_bad_template_rejected_with_location(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("templates:\n  sidecar: |\n    a: {{ nosuchfunc .Values }}\n")
    result = run("kube-inject", "-f", str(EXAMPLE), "--injectConfigFile", str(config))
    assert result.returncode != 0
    assert "sidecar" in result.stderr and "nosuchfunc" in result.stderr and "line 1" in result.stderr


@pytest.mark.parametrize("annotations,labels,ns_labels,inject,fragment", [
    ({}, {}, "istio-injection=enabled", True, "policy is enabled"),
    ({"sidecar.istio.io/inject": "false"}, {}, "istio-injection=enabled", False, "annotation"),
    ({}, {}, "", False, "no Istio webhook selects"),
    ({}, {"istio.io/rev": "canary"}, "", False, "revision 'canary'"),
])
def test_check_explains(tmp_path: Path, annotations: dict, labels: dict, ns_labels: str, inject: bool,
                        fragment: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": annotations,
                                                           "labels": labels}, "spec": {"containers": []}}
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    result = run("check", "-f", str(path), "--namespace", "apps", "--namespace-labels", ns_labels, "-o", "json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["inject"] is inject and fragment in verdict["reason"]


def test_check_text_output_for_a_deployment() -> None:
    result = run("check", "-f", str(EXAMPLE.parent / "deployment.yaml"), "--namespace-labels", "istio-injection=enabled")
    assert result.returncode == 0
    assert result.stdout.startswith("inject: ")
