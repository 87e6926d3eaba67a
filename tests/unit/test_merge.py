"""Strategic merge on the Pod schema (§6.2): keyed lists, order rule, directives, purity."""
from __future__ import annotations

import orjson
import pytest

from workers.errors import InjectionError
from workers.merge import apply_container, apply_init_container, strategic_merge


def names(items):
    return [i["name"] for i in items]


def test_template_containers_precede_original_only_items():
    original = {"spec": {"containers": [{"name": "app", "image": "a"}]}}
    patch = {"spec": {"containers": [{"name": "istio-proxy", "image": "p"}]}}
    assert names(strategic_merge(original, patch)["spec"]["containers"]) == ["istio-proxy", "app"]


def test_image_pull_secrets_order():
    original = {"spec": {"imagePullSecrets": [{"name": "fooSecret"}]}}
    patch = {"spec": {"imagePullSecrets": [{"name": "barSecret"}]}}
    assert names(strategic_merge(original, patch)["spec"]["imagePullSecrets"]) == ["barSecret", "fooSecret"]


def test_patch_order_wins_for_shared_items():
    # Kubernetes sorts the patch items by patch order and only interleaves original-only items by live position,
    # so shared items follow the patch, not the original (the spec's "keep their original order" is too loose).
    original = {"spec": {"volumes": [{"name": "a"}, {"name": "b", "emptyDir": {}}, {"name": "c"}]}}
    patch = {"spec": {"volumes": [{"name": "new"}, {"name": "c", "x": 1}, {"name": "b", "y": 2}]}}
    merged = strategic_merge(original, patch)["spec"]["volumes"]
    assert names(merged) == ["new", "a", "c", "b"]
    assert merged[3] == {"name": "b", "emptyDir": {}, "y": 2}
    assert merged[2] == {"name": "c", "x": 1}


def test_customised_proxy_volume_mounts_template_first():
    original = {"spec": {"containers": [{"name": "istio-proxy", "volumeMounts": [{"mountPath": "/user", "name": "u"}]}]}}
    patch = {"spec": {"containers": [{"name": "istio-proxy", "image": "p",
                                      "volumeMounts": [{"mountPath": "/t1", "name": "t1"},
                                                       {"mountPath": "/t2", "name": "t2"}]}]}}
    proxy = strategic_merge(original, patch)["spec"]["containers"][0]
    assert [m["mountPath"] for m in proxy["volumeMounts"]] == ["/t1", "/t2", "/user"]
    assert proxy["image"] == "p"


def test_ports_merge_by_container_port_numbers_compare_as_float():
    original = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "protocol": "TCP"}]}]}}
    ports = strategic_merge(original, patch)["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 80.0, "name": "http", "protocol": "TCP"}]


def test_env_by_name_and_delete_directive():
    original = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y"}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}, {"name": "Z"},
                                                           {"name": "X", "$patch": "delete"}]}]}}
    env = strategic_merge(original, patch)["spec"]["containers"][0]["env"]
    assert env == [{"name": "Y", "value": "2"}, {"name": "Z"}]


def test_list_replace_directive():
    original = {"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}}
    patch = {"spec": {"volumes": [{"$patch": "replace"}, {"name": "c"}]}}
    assert strategic_merge(original, patch)["spec"]["volumes"] == [{"name": "c"}]


def test_atomic_lists_replaced_and_empty_keyed_list_keeps_original():
    original = {"spec": {"containers": [{"name": "a", "args": ["x", "y"]}], "tolerations": [{"key": "k"}],
                         "initContainers": [{"name": "i"}]}}
    patch = {"spec": {"containers": [{"name": "a", "args": ["z"]}], "tolerations": [], "initContainers": []}}
    merged = strategic_merge(original, patch)["spec"]
    assert merged["containers"][0]["args"] == ["z"]
    assert merged["tolerations"] == []
    assert merged["initContainers"] == [{"name": "i"}]


def test_null_deletes_and_unmatched_nulls_dropped():
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"a": None, "c": None}, "annotations": {"x": None, "y": "1"}}}
    merged = strategic_merge(original, patch)
    assert merged["metadata"] == {"labels": {"b": "2"}, "annotations": {"y": "1"}}


def test_map_directives():
    original = {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": 2}}}
    replaced = strategic_merge(original, {"spec": {"securityContext": {"$patch": "replace", "runAsUser": 5}}})
    assert replaced["spec"]["securityContext"] == {"runAsUser": 5}
    deleted = strategic_merge(original, {"spec": {"securityContext": {"$patch": "delete"}}})
    assert deleted["spec"]["securityContext"] == {}
    # a directive map with nothing to merge into is dropped entirely (Kubernetes removeDirectives)
    absent = strategic_merge({"spec": {}}, {"spec": {"securityContext": {"$patch": "replace", "runAsUser": 5}}})
    assert "securityContext" not in absent["spec"]


def test_finalizers_set_union_and_owner_references_by_uid():
    original = {"metadata": {"finalizers": ["a", "b"], "ownerReferences": [{"uid": "1", "name": "x"}]}}
    patch = {"metadata": {"finalizers": ["c", "a"], "ownerReferences": [{"uid": "1", "kind": "K"}]}}
    meta = strategic_merge(original, patch)["metadata"]
    assert meta["finalizers"] == ["c", "a", "b"]
    assert meta["ownerReferences"] == [{"uid": "1", "name": "x", "kind": "K"}]


def test_other_keyed_lists():
    original = {"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
                         "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}]}}
    patch = {"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}, {"ip": "2.2.2.2"}],
                      "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}]}}
    spec = strategic_merge(original, patch)["spec"]
    assert spec["hostAliases"] == [{"ip": "1.1.1.1", "hostnames": ["b"]}, {"ip": "2.2.2.2"}]
    assert spec["topologySpreadConstraints"] == [{"topologyKey": "zone", "maxSkew": 2}]


def test_type_mismatch_and_none_original_replace():
    original = {"spec": {"containers": None, "nodeSelector": "x"}}
    patch = {"spec": {"containers": [{"name": "p", "image": None}], "nodeSelector": {"a": "b"}}}
    spec = strategic_merge(original, patch)["spec"]
    assert spec == {"containers": [{"name": "p"}], "nodeSelector": {"a": "b"}}


def test_new_keyed_item_is_appended_raw():
    # Kubernetes appends unmatched patch items as they are; the typed round trip drops the nulls later
    merged = strategic_merge({"spec": {"containers": [{"name": "a"}]}},
                             {"spec": {"containers": [{"name": "b", "image": None}]}})
    assert merged["spec"]["containers"][0] == {"name": "b", "image": None}


def test_retain_keys_and_primitive_delete_list_and_set_order():
    original = {"spec": {"volumes": [{"name": "v", "emptyDir": {}, "other": 1}]},
                "metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]},
             "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    merged = strategic_merge(original, patch)
    assert merged["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]
    assert merged["metadata"]["finalizers"] == ["a", "c"]
    ordered = strategic_merge({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
                              {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}})
    assert names(ordered["spec"]["containers"]) == ["b", "a"]


def test_errors():
    with pytest.raises(InjectionError, match="does not contain declared merge key: name"):
        strategic_merge({"spec": {"containers": [{"name": "a"}]}}, {"spec": {"containers": [{"image": "x"}]}})
    with pytest.raises(InjectionError, match="unknown patch type"):
        strategic_merge({"spec": {"a": {}}}, {"spec": {"a": {"$patch": "bogus"}}})
    with pytest.raises(InjectionError, match="list element types are not identical"):
        strategic_merge({"spec": {"containers": [{"name": "a"}]}}, {"spec": {"containers": ["x"]}})


def test_inputs_untouched():
    original = {"spec": {"containers": [{"name": "app", "env": [{"name": "A"}]}]}}
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": None}]}]}}
    snapshot = (repr(original), repr(patch))
    merged = strategic_merge(original, patch)
    merged["spec"]["containers"][0]["env"].append({"name": "C"})
    assert (repr(original), repr(patch)) == snapshot


def test_apply_container_variants():
    pod = {"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "istio-proxy", "image": "t",
                                                                         "args": ["a", "b"]}]}}
    out = apply_init_container(pod, {"name": "istio-proxy", "args": ["c"], "resources": {}})
    assert out["spec"]["containers"] == [{"name": "app"}]
    assert out["spec"]["initContainers"] == [{"name": "istio-proxy", "image": "t", "args": ["c"], "resources": {}}]
    out = apply_container(pod, {"name": "app", "image": "u", "resources": {}})
    assert out["spec"]["containers"] == [{"name": "app", "image": "u", "resources": {}}]


def _snapshot(*values):
    return orjson.dumps(values)


def test_untouched_subtrees_are_shared_not_copied():
    app = {"name": "app", "env": [{"name": f"V{i}", "value": "x"} for i in range(50)]}
    original = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [app], "volumes": [{"name": "v"}]}}
    patch = {"metadata": {"annotations": {"x": "y", "gone": None}},
             "spec": {"containers": [{"name": "istio-proxy", "image": "p"}], "volumes": [{"name": "w"}]}}
    before = _snapshot(original, patch)
    merged = strategic_merge(original, patch)
    assert _snapshot(original, patch) == before
    assert merged["spec"]["containers"][1] is app
    assert merged["metadata"]["labels"] is original["metadata"]["labels"]
    assert merged["metadata"]["annotations"] == {"x": "y"}
    assert merged["spec"]["volumes"] == [{"name": "w"}, {"name": "v"}]
    assert merged is not original and merged["spec"] is not original["spec"]


def test_patch_values_without_nulls_or_directives_are_taken_as_they_are():
    proxy = {"name": "istio-proxy", "args": ["proxy", "sidecar"], "env": [{"name": "A", "value": "/dev/null"}]}
    patch = {"spec": {"initContainers": [proxy], "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}}}
    merged = strategic_merge({"spec": {}}, patch)
    assert merged["spec"]["initContainers"] is patch["spec"]["initContainers"]
    assert merged["spec"]["dnsConfig"] is patch["spec"]["dnsConfig"]


def test_cleaning_rebuilds_only_the_path_to_a_null_or_directive():
    keep = {"name": "keep", "configMap": {"name": "c"}}
    patch = {"spec": {"nodeSelector": {"a": "1"}, "affinity": {"nodeAffinity": {"x": None, "$patch": "replace"},
                                                               "podAffinity": {"y": 1}},
                      "topologySpreadConstraints": [keep, {"topologyKey": "z", "labelSelector": None}]}}
    before = _snapshot(patch)
    spec = strategic_merge({"spec": {}}, patch)["spec"]
    assert _snapshot(patch) == before
    assert spec["affinity"] == {"podAffinity": {"y": 1}}
    assert spec["affinity"]["podAffinity"] is patch["spec"]["affinity"]["podAffinity"]
    assert spec["topologySpreadConstraints"] == [keep, {"topologyKey": "z"}]
    assert spec["topologySpreadConstraints"][0] is keep


@pytest.mark.parametrize(("original", "patch"), [
    ({"spec": {"volumes": [{"name": "v", "emptyDir": {}, "other": 1}]}},
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
    ({"metadata": {"finalizers": ["a", "b", "c"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
    ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
     {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "x": 1}]}}),
    ({"spec": {"securityContext": {"runAsUser": 1}}}, {"spec": {"securityContext": {"$patch": "replace", "a": 1}}}),
    ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
     {"spec": {"containers": [{"name": "b", "$patch": "delete"},
                              {"name": "c", "env": [{"name": "E", "value": None}]}]}}),
    ({"spec": {"containers": [{"name": "a", "env": [{"name": "E"}]}]}},
     {"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}}),
])
def test_directive_patches_leave_both_inputs_unchanged(original, patch):
    before = _snapshot(original, patch)
    first = strategic_merge(original, patch)
    assert _snapshot(original, patch) == before
    assert orjson.dumps(strategic_merge(original, patch)) == orjson.dumps(first)  # and the patch still works
