"""Prometheus metrics merge (§6.5 steps 2-3): point scrapers at the agent, hand the app's config to the agent.

``user_scrape_annotations`` reads the app's config back from the agent env, to recover the pod the user wrote.
"""
from __future__ import annotations

from workers.errors import InjectionError
from workers.post.common import GO_SPACE, annotations_of, atoi, find_sidecar, parse_bool, sidecar_env_json
from workers.templates.gofmt import quote as go_quote
from workers.serialize.gojson import OrderedStruct, dumps
from workers.strip import (PROMETHEUS_PATH, PROMETHEUS_PORT, PROMETHEUS_SCRAPE, PROMETHEUS_SCRAPE_TARGETS,
                           prometheus_port, sanitize_label_name, without_prometheus_annotations)

MERGE_METRICS_ANNOTATION = "prometheus.istio.io/merge-metrics"
SECURE_PORT_ANNOTATION = "prometheus.istio.io/secure-port"
SCRAPE_CONFIG_ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
_SECURE_PORT_SANITIZED = "prometheus_istio_io_secure_port"
_SECURE_PORT_ENV = "ENVOY_SECURE_MERGED_METRICS_PORT"
RESERVED_PORTS = {
    "15000": "Envoy admin",
    "15001": "outbound traffic capture",
    "15004": "pilot debug",
    "15006": "inbound traffic capture",
    "15008": "HBONE tunnel",
    "15020": "pilot-agent status / merged Prometheus",
    "15021": "Envoy health",
    "15053": "DNS proxy",
    "15090": "Envoy Prometheus (already merged)",
}


def scrape_enabled(annotations: dict[str, str]) -> bool:
    """First scrape-annotation variant that parses as a Go bool; scraping is on by default."""
    for key, value in annotations.items():
        if sanitize_label_name(key) == PROMETHEUS_SCRAPE:
            parsed = parse_bool(value)
            if parsed is not None:
                return parsed
    return True


def merge_enabled(mesh: dict, annotations: dict[str, str]) -> bool:
    """Pod annotation, else mesh ``enablePrometheusMerge``, else on."""
    parsed = parse_bool(annotations.get(MERGE_METRICS_ANNOTATION))
    if parsed is not None:
        return parsed
    value = mesh.get("enablePrometheusMerge")
    return True if value is None else bool(value)


def parse_scrape_targets(raw: str) -> list[tuple[str, str]] | None:
    """``port:path`` items; None (ignored, as Istio only logs it) when an item has an empty port."""
    targets = []
    for entry in raw.split(","):
        entry = entry.strip(GO_SPACE)
        if not entry:
            continue
        port, sep, path = entry.partition(":")
        port = port.strip(GO_SPACE)
        if not port:
            return None
        path = path.strip(GO_SPACE) if sep else ""
        targets.append((port, path or "/metrics"))
    return targets


def scrape_configuration(annotations: dict[str, str]) -> dict:
    """The user's scrape settings from all annotation variants (later variants win)."""
    config = {"scrape": "", "path": "", "port": "", "targets": []}
    for key, value in annotations.items():
        name = sanitize_label_name(key)
        if name == PROMETHEUS_PORT:
            config["port"] = value
        elif name == PROMETHEUS_SCRAPE:
            config["scrape"] = value
        elif name == PROMETHEUS_PATH:
            config["path"] = value
        elif name == PROMETHEUS_SCRAPE_TARGETS:
            targets = parse_scrape_targets(value)
            if targets is not None:
                config["targets"] = targets
    return config


def _check_port(port: str, agent_port: str, *, target: bool) -> None:
    number = atoi(port)
    if target:
        prefix, what = "invalid prometheus scrape targets: ", "target port"
        invalid = f"invalid target port {go_quote(port)}"
    else:
        prefix, what = "invalid prometheus scrape configuration: ", "port"
        invalid = f"invalid port {go_quote(port)}"
    if number is None or not 1 <= number <= 65535:
        raise InjectionError(prefix + invalid)
    canonical = str(number)
    if canonical == agent_port:
        raise InjectionError(f"{prefix}{what} {port} conflicts with agent port")
    if canonical in RESERVED_PORTS:
        raise InjectionError(f"{prefix}{what} {port} is reserved for Istio ({RESERVED_PORTS[canonical]}) "
                             "and cannot be scraped")


def prometheus_merge(pod: dict, mesh: dict) -> None:
    """In place: move the app's scrape config into the proxy env and point the annotations at the agent."""
    annotations = annotations_of(pod)
    if not scrape_enabled(annotations) or not merge_enabled(mesh, annotations):
        return
    agent_port = str(int(mesh["defaultConfig"]["statusPort"]))
    if prometheus_port(annotations) == agent_port:
        return
    config = scrape_configuration(annotations)
    targets = config["targets"]
    if targets:
        config["port"], config["path"] = targets[0]
        for port, _ in targets:
            _check_port(port, agent_port, target=True)
    elif config["port"]:
        _check_port(config["port"], agent_port, target=False)
    sidecar = find_sidecar(pod)
    if sidecar is not None and (config["scrape"] or config["path"] or config["port"] or targets):
        value = OrderedStruct(scrape=config["scrape"], path=config["path"], port=config["port"])
        if targets:
            value["targets"] = [OrderedStruct(port=port, path=path) for port, path in targets]
        sidecar["env"] = [*(sidecar.get("env") or []), {"name": SCRAPE_CONFIG_ENV, "value": dumps(value)}]
    cleared = without_prometheus_annotations(annotations)
    cleared["prometheus.io/port"] = agent_port
    cleared["prometheus.io/path"] = "/stats/prometheus"
    cleared["prometheus.io/scrape"] = "true"
    pod["metadata"]["annotations"] = cleared


def secure_port(pod: dict) -> None:
    """In place: publish the proxy's secure merged-metrics port unless the user set the annotation."""
    annotations = annotations_of(pod)
    if any(sanitize_label_name(k) == _SECURE_PORT_SANITIZED for k in annotations):
        return
    sidecar = find_sidecar(pod)
    if sidecar is None:
        return
    for env in sidecar.get("env") or ():
        value = env.get("value") or ""
        if env.get("name") == _SECURE_PORT_ENV and value not in ("", "0"):
            annotations[SECURE_PORT_ANNOTATION] = value
            return


def user_scrape_annotations(pod: dict) -> dict[str, str]:
    """The app's scrape annotations that ``prometheus_merge`` moved into the proxy env (``{}`` when none).

    Keys come back in their canonical spelling; any variant sanitises to the same name, so re-injection renders
    the same env. With scrape targets, port and path were derived from the first target and are not restored.
    """
    config = sidecar_env_json(pod, SCRAPE_CONFIG_ENV)
    if config is None:
        return {}
    out: dict[str, str] = {}
    if config.get("scrape"):
        out["prometheus.io/scrape"] = str(config["scrape"])
    targets = [t for t in config.get("targets") or () if isinstance(t, dict)]
    if targets:
        out["prometheus.istio.io/scrape-targets"] = ",".join(f"{t.get('port', '')}:{t.get('path', '')}"
                                                             for t in targets)
        return out
    for key in ("path", "port"):
        if config.get(key):
            out[f"prometheus.io/{key}"] = str(config[key])
    return out
