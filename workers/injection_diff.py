"""What differs between two injected versions of one pod: a short summary and a unified diff.

Used for "what will revision B do to this workload" (``injector diff``) and for "why is this running pod stale"
(``injector audit``, ``/debug/stale``). The summary names every difference, grouped by what operators look at
first: containers added or removed, the native-sidecar move, images, env, resources, probes, annotations and
labels, volumes, then any other field. Containers are matched by name wherever they sit, so a proxy that moves
into ``initContainers`` shows as a move plus its real changes, not as a removal and an addition.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import orjson

from workers.serialize import goyaml

CONTAINER_LISTS = ("initContainers", "containers")
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
_SUMMARISED_CONTAINER_FIELDS = frozenset({"name", "image", "env", "resources", *PROBES})
_VALUE_WIDTH = 72

ASPECTS = ("containers", "native-sidecar", "image", "env", "resources", "probes", "annotations", "labels",
           "volumes", "other")
"""Every ``Change.aspect``, in the order summaries list them."""


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``before``/``after`` are short printable values; None means absent on that side."""

    aspect: str
    subject: str
    before: str | None
    after: str | None

    def text(self) -> str:
        if self.before is None:
            change = f"added {self.after}" if self.after else "added"
        elif self.after is None:
            change = f"removed (was {self.before})" if self.before else "removed"
        else:
            change = f"{self.before} -> {self.after}"
        return f"{self.subject}: {change}"

    def as_json(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "subject": self.subject, "before": self.before, "after": self.after,
                "text": self.text()}


def summarize(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """Every difference in labels, annotations and spec between two pods, sorted by aspect."""
    changes = [*_container_changes(before, after), *_metadata_changes(before, after), *_spec_changes(before, after)]
    if not changes and pod_view(before) != pod_view(after):
        changes.append(Change("other", "pod", "differs only in the order of list entries", "see the diff"))
    order = {aspect: index for index, aspect in enumerate(ASPECTS)}
    return sorted(changes, key=lambda change: order[change.aspect])


def pod_view(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod an injection decides: labels, annotations and the spec (what the diff shows)."""
    metadata = pod.get("metadata") or {}
    return {"metadata": {"labels": metadata.get("labels") or {}, "annotations": metadata.get("annotations") or {}},
            "spec": pod.get("spec") or {}}


def unified_diff(before: Mapping[str, Any], after: Mapping[str, Any], from_label: str, to_label: str,
                 context: int = 3) -> str:
    """``diff -u`` of the two pods' views printed as Kubernetes YAML; empty when they are the same."""
    lines = difflib.unified_diff(goyaml.dumps(pod_view(before)).splitlines(keepends=True),
                                 goyaml.dumps(pod_view(after)).splitlines(keepends=True),
                                 fromfile=from_label, tofile=to_label, n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# ------------------------------------------------------------------------------------------------ values

def short(value: Any) -> str:
    """A one-line rendering: strings as they are, anything else as compact JSON; long values cut."""
    return _cut(_one_line(value), 0)


def short_pair(before: Any, after: Any) -> tuple[str, str]:
    """Both values cut alike around their first difference, so two long values that differ near the end (a JSON
    annotation, a long env value) still show what changed."""
    old, new = _one_line(before), _one_line(after)
    common = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    start = 0 if max(len(old), len(new)) <= _VALUE_WIDTH else max(0, common - _VALUE_WIDTH // 3)
    return _cut(old, start), _cut(new, start)


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text.replace("\n", "\\n")


def _cut(text: str, start: int) -> str:
    text = ("..." if start else "") + text[start:]
    return text if len(text) <= _VALUE_WIDTH else text[:_VALUE_WIDTH - 3] + "..."


def _changed(aspect: str, subject: str, before: Any, after: Any) -> Change:
    return Change(aspect, subject, *short_pair(before, after))


def _keyed(before: Mapping[str, Any], after: Mapping[str, Any], aspect: str,
           subject: str) -> Iterator[Change]:
    """Added, removed and changed keys of two maps (in ``after``'s order, removals last)."""
    for key, value in after.items():
        if key not in before:
            yield Change(aspect, f"{subject}{key}", None, short(value))
        elif before[key] != value:
            yield _changed(aspect, f"{subject}{key}", before[key], value)
    for key, value in before.items():
        if key not in after:
            yield Change(aspect, f"{subject}{key}", short(value), None)


def _by_name(items: Any) -> dict[str, Any]:
    return {item.get("name", ""): item for item in items or () if isinstance(item, dict)}


# ------------------------------------------------------------------------------------------------ containers

def _containers(pod: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    spec = pod.get("spec") or {}
    return {name: (field, container) for field in CONTAINER_LISTS
            for name, container in _by_name(spec.get(field)).items()}


def _env_value(var: Mapping[str, Any]) -> Any:
    return var["valueFrom"] if "valueFrom" in var else var.get("value", "")


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    return {f"{kind}.{name}": value for kind in ("requests", "limits", "claims")
            for name, value in _claims_or_map(resources.get(kind))}


def _claims_or_map(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from ((str(index), item) for index, item in enumerate(value))


def _container_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[Change]:
    old, new = _containers(before), _containers(after)
    for name in [*new, *(n for n in old if n not in new)]:
        if name not in old or name not in new:
            field, container = new[name] if name in new else old[name]
            where = "init container" if field == "initContainers" else "container"
            image = short(container.get("image", ""))
            yield Change("containers", f"{where} {name}", None if name not in old else image,
                         None if name not in new else image)
            continue
        (old_field, a), (new_field, b) = old[name], new[name]
        if old_field != new_field:
            yield Change("native-sidecar", f"{name} placement", old_field, new_field)
        if a.get("image") != b.get("image"):
            yield _changed("image", f"{name} image", a.get("image", ""), b.get("image", ""))
        old_env, new_env = _by_name(a.get("env")), _by_name(b.get("env"))
        yield from _keyed({k: _env_value(v) for k, v in old_env.items()},
                          {k: _env_value(v) for k, v in new_env.items()}, "env", f"{name} env ")
        yield from _order_change("env", f"{name} env order", old_env, new_env)
        yield from _keyed(_resources(a), _resources(b), "resources", f"{name} resources ")
        for probe in PROBES:
            if a.get(probe) != b.get(probe):
                yield _maybe_pair("probes", f"{name} {probe}", a.get(probe), b.get(probe))
        moved = old_field != new_field
        for key in [*b, *(k for k in a if k not in b)]:
            if key in _SUMMARISED_CONTAINER_FIELDS or a.get(key) == b.get(key):
                continue
            if moved and key == "restartPolicy":  # part of the move to a native sidecar
                continue
            yield _maybe_pair("other", f"{name} {key}", a.get(key), b.get(key))
    for field in CONTAINER_LISTS:
        yield from _order_change("containers", f"{field} order", {n: c for n, (f, c) in old.items() if f == field},
                                 {n: c for n, (f, c) in new.items() if f == field})


def _order_change(aspect: str, subject: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    """Entries present on both sides that moved relative to each other."""
    if [n for n in old if n in new] != [n for n in new if n in old]:
        yield Change(aspect, subject, short(", ".join(old)), short(", ".join(new)))


def _maybe_pair(aspect: str, subject: str, before: Any, after: Any) -> Change:
    """A change of a field that may be absent on one side."""
    if before is None or after is None:
        return Change(aspect, subject, None if before is None else short(before),
                      None if after is None else short(after))
    return _changed(aspect, subject, before, after)


# ------------------------------------------------------------------------------------------------ pod level

def _metadata_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[Change]:
    old, new = before.get("metadata") or {}, after.get("metadata") or {}
    yield from _keyed(old.get("annotations") or {}, new.get("annotations") or {}, "annotations", "annotation ")
    yield from _keyed(old.get("labels") or {}, new.get("labels") or {}, "labels", "label ")


def _spec_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[Change]:
    old, new = before.get("spec") or {}, after.get("spec") or {}
    old_volumes, new_volumes = _by_name(old.get("volumes")), _by_name(new.get("volumes"))
    yield from _keyed(old_volumes, new_volumes, "volumes", "volume ")
    yield from _order_change("volumes", "volume order", old_volumes, new_volumes)
    for key in [*new, *(k for k in old if k not in new)]:
        if key in CONTAINER_LISTS or key == "volumes" or old.get(key) == new.get(key):
            continue
        yield _maybe_pair("other", f"spec.{key}", old.get(key), new.get(key))
