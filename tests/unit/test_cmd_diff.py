"""``injector diff`` and ``injector audit`` as a user runs them without a cluster: output, exit codes, errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workers import defaults

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "deployment.yaml"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "injector.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def values(**global_changes: object) -> str:
    data = json.loads(defaults.default_values_text())
    data["global"].update(global_changes)
    return json.dumps(data)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """``serve --config-dir`` layout: revisions default and canary (embedded templates, canary's tag differs)."""
    for revision, text in (("default", values()), ("canary", values(tag="1.29.0"))):
        (tmp_path / "revisions" / revision).mkdir(parents=True)
        (tmp_path / "revisions" / revision / "values").write_text(text)
    return tmp_path / "revisions"


def test_text_output_has_summary_and_unified_diff(config_dir: Path) -> None:
    result = run("diff", "-f", str(EXAMPLE), "--config-dir", str(config_dir), "--from", "default", "--to", "canary")
    assert result.returncode == 1, result.stderr
    assert "=== demo/Deployment/hello: " in result.stdout
    assert "  istio-proxy image: docker.io/istio/proxyv2:1.28.0 -> docker.io/istio/proxyv2:1.29.0\n" in result.stdout
    assert "--- demo/Deployment/hello (default)\n+++ demo/Deployment/hello (canary)\n" in result.stdout
    assert "-    image: docker.io/istio/proxyv2:1.28.0\n+    image: docker.io/istio/proxyv2:1.29.0\n" in result.stdout
    assert result.stdout.endswith("1 of 1 workload(s) change from default to canary.\n")
    short = run("diff", "-f", str(EXAMPLE), "--config-dir", str(config_dir), "--to", "canary", "--summary-only")
    assert short.returncode == 1 and "+++ " not in short.stdout and "istio-proxy image" in short.stdout


def test_json_output(config_dir: Path) -> None:
    result = run("diff", "-f", "-", "--config-dir", str(config_dir), "--to", "canary", "-o", "json",
                 stdin=EXAMPLE.read_text())
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["from"], report["to"], report["counts"]) == ("default", "canary",
                                                                {"workloads": 1, "changed": 1, "errors": 0})
    [workload] = report["workloads"]
    assert (workload["namespace"], workload["kind"], workload["name"]) == ("demo", "Deployment", "hello")
    assert workload["injected"] == {"from": True, "to": True}
    aspects = {change["aspect"] for change in workload["changes"]}
    assert aspects == {"image", "annotations"}, workload["changes"]


def test_candidate_config_without_cluster(tmp_path: Path) -> None:
    same, resized = tmp_path / "same", tmp_path / "resized"
    same.mkdir()
    resized.mkdir()
    (same / "values").write_text(values())
    data = json.loads(values())
    data["global"]["proxy"]["resources"]["limits"]["cpu"] = "1"
    (resized / "values").write_text(json.dumps(data))
    unchanged = run("diff", "-f", str(EXAMPLE), "--to-config", str(same))
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert "=== demo/Deployment/hello: no change" in unchanged.stdout
    changed = run("diff", "-f", str(EXAMPLE), "--to-config", str(resized), "-o", "json")
    assert changed.returncode == 1
    texts = [c["text"] for c in json.loads(changed.stdout)["workloads"][0]["changes"]]
    assert texts == ["istio-init resources limits.cpu: 2 -> 1", "istio-proxy resources limits.cpu: 2 -> 1"]


def test_a_workload_that_fails_is_an_error_the_others_still_show(config_dir: Path) -> None:
    bad = ("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: demo\n  annotations:\n"
           "    inject.istio.io/templates: nosuch\nspec:\n  containers:\n  - name: a\n    image: a\n")
    result = run("diff", "-f", "-", "--config-dir", str(config_dir), "--to", "canary", stdin=EXAMPLE.read_text() + bad)
    assert result.returncode == 2
    assert '=== demo/Pod/p: error: requested template "nosuch" not found' in result.stdout
    assert "=== demo/Deployment/hello: " in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--to", "nosuch"), "no revision 'nosuch' (found: canary, default)"),
    (("--from", "canary"), "nothing to compare: give --to REV or --to-config DIR"),
    (("--to-config", "/nonexistent-dir"), "/nonexistent-dir: not a directory"),
    (("--to", "canary", "-A", "-n", "x"), "--all-namespaces excludes --namespace"),
])
def test_usage_errors_exit_2(config_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = run("diff", "-f", str(EXAMPLE), "--config-dir", str(config_dir), *args)
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""


def test_invalid_manifest_and_config_exit_2(tmp_path: Path) -> None:
    invalid = run("diff", "-f", "-", "--to", "canary", stdin="kind: Pod\nmetadata: [\n")
    assert invalid.returncode == 2 and "document 1" in invalid.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config").write_text("templateLanguage: jinja2\ntemplates:\n  sidecar: \"{% if %}\"\n")
    broken = run("diff", "-f", str(EXAMPLE), "--to-config", str(tmp_path / "bad"))
    assert broken.returncode == 2 and "revision default" in broken.stderr and "templates.sidecar" in broken.stderr


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
                          "'http://127.0.0.1:9'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
                          "current-context: c\nusers:\n- name: u\n  user: {token: t}\n")
    for command in (("audit",), ("diff", "--to", "canary")):
        result = run(*command, f"--kubeconfig={kubeconfig}")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: cannot list ") or "cannot read it from the cluster" in result.stderr
        assert "Traceback" not in result.stderr
