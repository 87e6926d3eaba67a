"""A patch computed between typed pods must apply to the raw pod and give the typed result."""
from __future__ import annotations

import jsonpatch
import orjson

from workers.k8s.types import normalize_pod
from workers.patch import create_patch
from workers.rebase import rebase_patch

RAW = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "p", "annotations": {"a": "1"}, "futureField": {"x": 1}},
       "spec": {"initContainers": [{"name": "init", "image": "i"}],
                "containers": [{"name": "app", "image": "a"}]}}


def _final(typed: dict) -> dict:
    final = orjson.loads(orjson.dumps(typed))
    final["spec"]["initContainers"][0]["resources"]["limits"] = {"cpu": "1"}
    final["spec"]["containers"].insert(0, {"name": "istio-proxy", "image": "proxy", "resources": {}})
    final["spec"]["containers"][1]["resources"]["requests"] = {"memory": "1Gi"}
    final["metadata"]["annotations"]["b"] = "2"
    return final


def test_rebased_patch_applies_to_raw_and_keeps_unknown_fields() -> None:
    typed = normalize_pod(RAW)
    assert "futureField" not in typed["metadata"]
    assert "resources" in typed["spec"]["initContainers"][0] and "resources" not in RAW["spec"]["initContainers"][0]
    final = _final(typed)
    ops = create_patch(typed, final)
    try:
        jsonpatch.apply_patch(RAW, ops)
        raise AssertionError("the typed patch was expected not to apply to the raw pod")
    except jsonpatch.JsonPointerException:
        pass
    patched = jsonpatch.apply_patch(RAW, rebase_patch(ops, RAW, final))
    assert patched["metadata"]["futureField"] == {"x": 1}
    assert normalize_pod(patched) == normalize_pod(final)


def test_remove_of_a_member_the_raw_pod_lacks_is_dropped() -> None:
    raw = {"metadata": {"name": "p"}}
    ops = [{"op": "remove", "path": "/metadata/labels"}, {"op": "replace", "path": "/metadata/name", "value": "q"}]
    rebased = rebase_patch(ops, raw, {"metadata": {"name": "q"}})
    assert rebased == [{"op": "replace", "path": "/metadata/name", "value": "q"}]


def test_replace_of_missing_member_becomes_add_and_list_shifts_are_followed() -> None:
    raw = {"spec": {"containers": [{"name": "a"}]}}
    final = {"spec": {"containers": [{"name": "p"}, {"name": "a", "resources": {"limits": {"cpu": "1"}}}]}}
    ops = [{"op": "add", "path": "/spec/containers/0", "value": {"name": "p"}},
           {"op": "replace", "path": "/spec/containers/1/resources", "value": {"limits": {"cpu": "1"}}}]
    rebased = rebase_patch(ops, raw, final)
    assert rebased[1]["op"] == "add"
    assert jsonpatch.apply_patch(raw, rebased) == final
