"""Config model: Istio's config/values/mesh parsed into validated snapshots, errors naming the key."""
from __future__ import annotations

import pickle

import pytest

from workers.config.errors import ConfigError
from workers.config.mesh import apply_proxy_config, parse_mesh
from workers.config.model import parse_injector_config
from workers.config.values import parse_values


def test_defaults_when_keys_missing() -> None:
    config = parse_injector_config("policy: enabled\ntemplate: ignored\nunknownKey: 1\n")
    assert config.default_templates == ("sidecar",)
    assert config.template_language == "go"
    assert dict(config.templates) == {}


def test_empty_default_templates_means_sidecar() -> None:
    assert parse_injector_config("defaultTemplates: []\n").default_templates == ("sidecar",)


@pytest.mark.parametrize("text,key", [
    ("policy: [a]\n", "policy"),
    ("templates: [a]\n", "templates"),
    ("templates: {a: 1}\n", "templates.a"),
    ("neverInjectSelector: {a: b}\n", "neverInjectSelector"),
    ("aliases: {a: b}\n", "aliases.a"),
    ("templateLanguage: erb\n", "templateLanguage"),
    ("policy: [\n", "config"),
])
def test_invalid_config_names_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_injector_config(text)
    assert info.value.key == key


def test_config_is_read_only_and_picklable() -> None:
    config = parse_injector_config("templates: {sidecar: x}\naliases: {a: [b, c]}\n")
    with pytest.raises(TypeError):
        config.templates["x"] = "y"  # type: ignore[index]
    assert pickle.loads(pickle.dumps(config)) == config


def test_values_numbers_are_floats() -> None:
    values = parse_values('{"global": {"proxy": {"statusPort": 15020}, "tag": 1.20}}')
    assert values["global"]["proxy"]["statusPort"] == 15020.0
    assert isinstance(values["global"]["proxy"]["statusPort"], float)


def test_values_section_type_checked() -> None:
    with pytest.raises(ConfigError, match="values.global"):
        parse_values('{"global": "x"}')


def test_mesh_defaults_applied() -> None:
    mesh = parse_mesh("trustDomain: example.org\n")
    assert mesh["trustDomain"] == "example.org"
    assert mesh["proxyListenPort"] == 15001
    assert mesh["defaultConfig"]["statusPort"] == 15020
    assert mesh["defaultConfig"]["interceptionMode"] == "REDIRECT"
    assert [p["name"] for p in mesh["extensionProviders"]] == ["prometheus", "stackdriver", "envoy"]


def test_mesh_default_config_merges_and_metadata_unions() -> None:
    mesh = parse_mesh("defaultConfig:\n  drainDuration: 23s\n  proxyMetadata: {A: '1'}\n",
                      {"defaultConfig": {"proxyMetadata": {"B": "2"}}})
    assert mesh["defaultConfig"]["drainDuration"] == "23s"
    assert mesh["defaultConfig"]["proxyMetadata"] == {"A": "1", "B": "2"}
    assert mesh["defaultConfig"]["configPath"] == "./etc/istio/proxy"


def test_mesh_extension_providers_merge_by_name() -> None:
    mesh = parse_mesh("extensionProviders:\n- name: envoy\n  envoyFileAccessLog: {path: /tmp/x}\n- name: otel\n"
                      "  opentelemetry: {port: 4317}\n")
    names = [p["name"] for p in mesh["extensionProviders"]]
    assert names == ["prometheus", "stackdriver", "envoy", "otel"]
    assert mesh["extensionProviders"][2]["envoyFileAccessLog"]["path"] == "/tmp/x"


def test_mesh_empty_tracing_message_kept() -> None:
    mesh = parse_mesh("", {"defaultConfig": {"tracing": {}}})
    assert mesh["defaultConfig"]["tracing"] == {}


def test_mesh_snake_case_keys_accepted() -> None:
    assert parse_mesh("default_config:\n  drain_duration: 3s\n")["defaultConfig"]["drainDuration"] == "3s"


@pytest.mark.parametrize("text,key", [
    ("proxyListenPort: abc\n", "proxyListenPort"),
    ("defaultConfig: [1]\n", "defaultConfig"),
    ("- a\n", "mesh"),
    ("defaultConfig: {statusPort: 70000}\n", "defaultConfig.statusPort"),
])
def test_invalid_mesh_names_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mesh(text)
    assert info.value.key == key


def test_apply_proxy_config_zero_values() -> None:
    base = {"statusPort": 15020, "proxyMetadata": {"A": "1"}}
    assert apply_proxy_config(base, {"statusPort": 0})["statusPort"] == 0
    assert apply_proxy_config(base, {"statusPort": 0}, skip_zero=True)["statusPort"] == 15020
    assert apply_proxy_config(base, {"proxyMetadata": {"B": "2"}})["proxyMetadata"] == {"A": "1", "B": "2"}
    assert base == {"statusPort": 15020, "proxyMetadata": {"A": "1"}}


def test_webhook_layering_keeps_zero_wrappers() -> None:
    base = {"statusPort": 15020, "proxyMetadata": {}}
    merged = apply_proxy_config(base, {"concurrency": 0, "holdApplicationUntilProxyStarts": False, "statusPort": 0},
                                skip_zero=True)
    assert merged["concurrency"] == 0 and merged["holdApplicationUntilProxyStarts"] is False
    assert merged["statusPort"] == 15020
