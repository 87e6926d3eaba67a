"""JSON Patch creation (§7): applying the patch with the ``jsonpatch`` library always yields the final pod."""
from __future__ import annotations

import pathlib
import random

import jsonpatch
import orjson
import pytest
import yaml

from workers.patch import create_patch, dumps_patch, equal
from workers.serialize.gojson import OrderedStruct

GOLDENS = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "istio" / "inject"


def pod_templates(path: pathlib.Path) -> list[dict]:
    """Pod-shaped documents (metadata + spec) of a workload YAML stream."""
    pods = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "Pod":
            pods.append(doc)
        elif doc.get("kind") == "CronJob":
            pods.append(doc["spec"]["jobTemplate"]["spec"]["template"])
        elif isinstance((doc.get("spec") or {}).get("template"), dict):
            pods.append(doc["spec"]["template"])
    return pods


def check(original, final):
    ops = create_patch(original, final)
    before = orjson.dumps(original)
    patched = jsonpatch.apply_patch(orjson.loads(before), orjson.loads(dumps_patch(ops)))
    assert orjson.dumps(patched, option=orjson.OPT_SORT_KEYS) == orjson.dumps(final, option=orjson.OPT_SORT_KEYS)
    assert orjson.dumps(original) == before
    return ops


def test_no_change_is_empty_list():
    pod = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "a"}]}}
    assert create_patch(pod, orjson.loads(orjson.dumps(pod))) == []
    assert dumps_patch([]) == b"[]"


def test_escaping_of_annotation_keys():
    original = {"metadata": {"annotations": {"a~b/c": "1", "keep": "x"}}}
    final = {"metadata": {"annotations": {"a~b/c": "2", "keep": "x", "sidecar.istio.io/status": "{}"}}}
    ops = check(original, final)
    assert {"op": "replace", "path": "/metadata/annotations/a~0b~1c", "value": "2"} in ops
    assert {"op": "add", "path": "/metadata/annotations/sidecar.istio.io~1status", "value": "{}"} in ops


def test_small_patch_for_appended_container():
    app = {"name": "app", "image": "a", "env": [{"name": "X", "value": "1"}]}
    original = {"spec": {"containers": [app]}}
    final = {"spec": {"containers": [app, {"name": "istio-proxy", "image": "p"}]}}
    assert check(original, final) == [{"op": "add", "path": "/spec/containers/1",
                                       "value": {"name": "istio-proxy", "image": "p"}}]


def test_bool_is_not_number():
    check({"a": 1, "b": [True]}, {"a": True, "b": [1]})
    assert create_patch({"a": 1}, {"a": 1.0}) == []


def test_equal_is_json_equality():
    assert equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not equal({"a": [1, {"b": True}]}, {"a": [1, {"b": 1}]})  # == in Python, not in JSON
    assert not equal([0], [False]) and not equal({"x": 1}, {"x": "1"})
    assert equal(OrderedStruct(b=1, a=[True]), {"a": [True], "b": 1})  # key order does not matter
    assert equal({"big": 2**70}, {"big": 2**70}) and not equal({"big": 2**70}, {"big": 2**70 + 1})


def test_python_equal_lists_that_differ_in_json_are_diffed():
    env = [{"name": f"V{i}", "value": "x"} for i in range(20)]
    check({"env": [*env, {"on": True}], "n": [1, 2]}, {"env": [*env, {"on": 1}], "n": [1, True]})
    check({"l": [True, *env]}, {"l": [1, *env]})


def test_equal_subtrees_produce_no_operations_and_are_not_walked():
    class Exploding(dict):
        """Stands for a large subtree: any per-key walk of it fails the test."""

        def items(self):
            raise AssertionError("an equal subtree was walked")

    shared = Exploding(env=[{"name": "A", "value": "1"}])
    assert create_patch({"a": shared, "b": 1}, {"a": shared, "b": 2}) == [{"op": "replace", "path": "/b", "value": 2}]
    copy = Exploding(env=[{"name": "A", "value": "1"}])
    assert create_patch({"a": shared, "b": 1}, {"a": copy, "b": 2}) == [{"op": "replace", "path": "/b", "value": 2}]


def _mutate(value, rng: random.Random, depth: int = 0):
    keys = ["a", "b/c", "d~e", "~", "/", "", "name", "0"]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if rng.random() < 0.15:
                continue
            out[k] = _mutate(v, rng, depth + 1)
        if rng.random() < 0.3:
            out[rng.choice(keys)] = _random_value(rng, depth)
        return out
    if isinstance(value, list):
        out = [_mutate(v, rng, depth + 1) for v in value if rng.random() > 0.2]
        for _ in range(rng.randrange(3)):
            out.insert(rng.randrange(len(out) + 1), _random_value(rng, depth))
        if len(out) > 1 and rng.random() < 0.3:
            rng.shuffle(out)
        return out
    return _random_value(rng, depth) if rng.random() < 0.2 else value


def _random_value(rng: random.Random, depth: int):
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return rng.randrange(5)
    if choice == 1:
        return rng.choice([True, False, None])
    if choice == 2:
        return rng.choice(["x", "y", "", "a/b"])
    if choice == 3:
        return 1.5
    if choice == 4:
        return "istio-proxy"
    if choice == 5:
        return {"name": rng.choice(["app", "istio-proxy"]), "v": rng.randrange(3)}
    if choice == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {k: _random_value(rng, depth + 1) for k in rng.sample(["a", "b/c", "~1", "name"], rng.randrange(4))}


@pytest.mark.parametrize("seed", range(300))
def test_random_mutations(seed):
    rng = random.Random(seed)
    original = _random_value(rng, 0) if seed % 3 else {"x": _random_value(rng, 0)}
    original = original if isinstance(original, dict) else {"root": original}
    for _ in range(3):
        check(original, _mutate(original, rng))


@pytest.mark.parametrize("golden", sorted(GOLDENS.glob("*.injected")), ids=lambda p: p.name)
def test_golden_input_to_injected(golden):
    source = GOLDENS / golden.name.split(".yaml")[0]
    source = source.with_name(source.name + ".yaml")
    inputs = pod_templates(source) if source.exists() else []
    outputs = pod_templates(golden)
    rng = random.Random(golden.name)
    for before, after in zip(inputs, outputs):
        check(before, after)
        check(after, before)
    for pod in outputs:
        check(pod, _mutate(pod, rng))
