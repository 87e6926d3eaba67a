"""Templates written for older Istio releases keep working: the names Istio 1.7-era templates used.

The template below is our own, written for this test; it uses the constructs those releases relied on and later
ones dropped: ``.Values.istio_cni``, ``.ProxyConfig.Concurrency.GetValue``, ``.ProxyConfig.InterceptionMode.String``,
``.ProxyConfig.ProxyMetadata.KEY`` and nil-safe ``GetTracing`` getters.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from workers.templates.errors import TemplateError
from workers.templates.gotemplate import translate
from workers.templates.jinja import make_environment

OLD_STYLE_TEMPLATE = r"""initContainers:
{{- if ne (annotation .ObjectMeta `sidecar.istio.io/interceptionMode` .ProxyConfig.InterceptionMode) `NONE` }}
- name: {{ if .Values.istio_cni.enabled }}istio-validation{{ else }}istio-init{{ end }}
  args: ["-m", "{{ annotation .ObjectMeta `sidecar.istio.io/interceptionMode` .ProxyConfig.InterceptionMode }}"]
{{- end }}
containers:
- name: istio-proxy
  args:
  {{- if gt .ProxyConfig.Concurrency.GetValue 0 }}
  - --concurrency
  - "{{ .ProxyConfig.Concurrency.GetValue }}"
  {{- end }}
  - --tracing={{ if .ProxyConfig.GetTracing.GetZipkin }}zipkin{{ else }}none{{ end }}
  env:
  - name: ISTIO_META_INTERCEPTION_MODE
    value: "{{ or (index .ObjectMeta.Annotations `sidecar.istio.io/interceptionMode`) .ProxyConfig.InterceptionMode.String }}"
  {{- if eq .ProxyConfig.ProxyMetadata.ISTIO_META_DNS_CAPTURE "true" }}
  - name: DNS_CAPTURE
    value: "on"
  {{- end }}
"""


def data(concurrency: int | None = 2, cni: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    proxy: dict[str, Any] = {"interceptionMode": "REDIRECT", "proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}
    if concurrency is not None:
        proxy["concurrency"] = concurrency
    return {"ObjectMeta": {"name": "hello", "annotations": annotations or {}}, "ProxyConfig": proxy,
            "Values": {"istio_cni": {"enabled": cni}}, "MeshConfig": {}, "Spec": {}}


def render(template_data: dict[str, Any]) -> dict[str, Any]:
    source = translate("old-style", OLD_STYLE_TEMPLATE)
    return yaml.safe_load(make_environment().from_string(source).render(template_data))


def test_old_style_names_render() -> None:
    out = render(data())
    assert out["initContainers"] == [{"name": "istio-init", "args": ["-m", "REDIRECT"]}]
    proxy = out["containers"][0]
    assert proxy["args"] == ["--concurrency", "2", "--tracing=none"]
    assert proxy["env"] == [{"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
                            {"name": "DNS_CAPTURE", "value": "on"}]


def test_unset_concurrency_is_the_wrapper_zero_value() -> None:
    assert render(data(concurrency=None))["containers"][0]["args"] == ["--tracing=none"]


def test_istio_cni_values_key_and_annotation_override() -> None:
    out = render(data(cni=True, annotations={"sidecar.istio.io/interceptionMode": "TPROXY"}))
    assert out["initContainers"] == [{"name": "istio-validation", "args": ["-m", "TPROXY"]}]
    assert out["containers"][0]["env"][0]["value"] == "TPROXY"


def test_none_mode_drops_the_init_container() -> None:
    assert render(data(annotations={"sidecar.istio.io/interceptionMode": "NONE"}))["initContainers"] is None


def test_a_field_glued_to_a_string_is_rejected_like_go() -> None:
    broken = OLD_STYLE_TEMPLATE.replace("(annotation .ObjectMeta `sidecar", "(annotation .ObjectMeta`sidecar", 1)
    with pytest.raises(TemplateError, match="bad character"):
        translate("old-style", broken)
