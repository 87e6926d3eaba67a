"""One pod in, the injected pod (and its JSON Patch) out: the injection pipeline of §6, in Istio's order.

validate annotations -> strip a previous injection -> template data -> render and merge each template (native
sidecar move between merges) -> re-apply user-customised injected containers -> post-processing -> typed pod ->
patch. The rendered-and-parsed template output is cached per distinct template input, because the pods of one
ReplicaSet render the very same sidecar and rendering plus YAML parsing is most of the cost.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
import yaml

from workers.config.errors import ConfigError
from workers.config.snapshot import RevisionConfig
from workers.errors import InjectionError
from workers.facts import RequestFacts
from workers.k8s.types import SchemaError, decode_pod_json, normalize_pod
from workers.merge import copy_json, strategic_merge
from workers.patch import create_patch, dumps_patch
from workers.post.overrides import reset_openshift_sidecar_user
from workers import postprocess
from workers.proxy_env import proxy_env
from workers.rebase import rebase_patch
from workers.selection import select_templates
from workers.strip import reinsert_overrides, strip_pod
from workers.template_data import build_template_data, effective_proxy_config
from workers.templates.errors import TemplateError
from workers.trial_render import trial_render
from workers.validate import validate_annotations
from workers.workload import WorkloadMeta, workload_of_pod
from workers.yamlchunks import ChunkedYaml

RENDER_CACHE_SIZE = 64
"""Entries of the per-revision render cache. Exact repeats are answered by the front end's patch cache, so this
one serves pods that differ outside the template input; parsed outputs are tens of KB each, hence few entries."""
_RENDERED_YAML = ChunkedYaml()
"""Parsed pieces of rendered template output, shared by every revision in this process (a piece's value
depends only on its text)."""
OPENSHIFT = "openshift"


@dataclass
class InjectionResult:
    """``original`` is the typed pod the patch is computed from; ``raw`` the pod as received."""

    raw: dict[str, Any]
    original: dict[str, Any]
    pod: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def patch(self) -> list[dict[str, Any]]:
        """JSON Patch that turns ``raw`` into ``pod``; untouched members of the raw pod stay as they were.

        API-server JSON is already typed, so ``raw == original`` and the patch applies as it is; only other raw
        input (missing non-omitempty fields, unknown fields) needs rebasing.
        """
        ops = create_patch(self.original, self.pod)
        return ops if self.raw == self.original else rebase_patch(ops, self.raw, self.pod)


class Injector:
    """Holds one revision's compiled templates and injects pods with them. Synchronous and process-local."""

    def __init__(self, config: RevisionConfig) -> None:
        self.config = config
        self.templates = config.templates()
        self._rendered: OrderedDict[bytes, list[tuple[dict[str, Any], dict[str, Any]]]] = OrderedDict()

    @classmethod
    def prepare(cls, config: RevisionConfig, render_seconds: float, *,
                render_memory_bytes: int | None = None) -> RevisionConfig:
        """Config sandbox side (``workers.sandbox``): compile once, trial-render every template under the render
        budget and memory allowance, and return the snapshot carrying its compiled code, which render workers load
        without compiling."""
        prepared = config.with_compiled_code()
        injector = cls(prepared)
        trial_render(injector, injector.templates.names, prepared.revision, render_seconds, render_memory_bytes)
        return prepared

    def inject_admission(self, pod_json: bytes, facts: RequestFacts) -> bytes:
        """Webhook entry point: raw pod bytes in, JSON Patch bytes out. Raises InjectionError."""
        try:
            pod = orjson.loads(pod_json)
        except orjson.JSONDecodeError as exc:
            raise InjectionError(f"could not decode pod: {exc}") from exc
        return self._admission_patch(pod, facts)

    def inject_review(self, review_json: bytes, facts: RequestFacts) -> bytes:
        """Webhook entry point for a pod the front end did not decode (too large to decode twice): the whole
        AdmissionReview's bytes in, the patch of its ``request.object`` out. Raises InjectionError."""
        try:
            review = orjson.loads(review_json)
        except orjson.JSONDecodeError as exc:
            raise InjectionError(f"could not decode admission review: {exc}") from exc
        request = review.get("request") if isinstance(review, dict) else None
        return self._admission_patch(request.get("object") if isinstance(request, dict) else None, facts)

    def _admission_patch(self, pod: Any, facts: RequestFacts) -> bytes:
        if not isinstance(pod, dict):
            raise InjectionError("could not decode pod: not a JSON object")
        result = self._inject_owned(pod, facts, None, decode=decode_pod_json)
        return dumps_patch(result.patch())

    def inject_pod(self, pod: dict[str, Any], facts: RequestFacts, *,
                   workload: WorkloadMeta | None = None) -> InjectionResult:
        """Inject one pod (not mutated). ``workload`` overrides the owner derived from the pod (kube-inject).

        The patch baseline is the typed original, as in Istio: fields our schema does not know are then neither in
        the baseline nor in the result, so the patch never touches them.
        """
        return self._inject_owned(copy_json(pod), facts, workload)

    def _inject_owned(self, raw: dict[str, Any], facts: RequestFacts, workload: WorkloadMeta | None, *,
                      decode: Callable[[Any], dict[str, Any]] = normalize_pod) -> InjectionResult:
        """``raw`` belongs to this call (freshly parsed or copied): it is adjusted in place. ``decode`` is the typed
        decode of the input: JSON rules for the webhook's ``request.object``, YAML rules for kube-inject."""
        metadata = raw.get("metadata")
        if isinstance(metadata, dict):  # anything else is refused by the decode just below
            metadata.pop("managedFields", None)
            if not metadata.get("namespace") and facts.namespace and facts.webhook:
                metadata["namespace"] = facts.namespace
        try:
            original = decode(raw)  # Go's decode into corev1.Pod: a wrong type anywhere fails here
        except SchemaError as exc:
            raise InjectionError(f"could not decode pod: {exc}") from exc
        try:
            return self._inject(raw, original, facts, workload)
        except ConfigError as exc:
            raise InjectionError(f"failed to process pod: {exc}") from exc
        except (TemplateError, SchemaError) as exc:  # SchemaError: template output of the wrong type (annotations)
            raise InjectionError(f"failed to run injection template: {exc}") from exc

    def _inject(self, raw: dict[str, Any], original: dict[str, Any], facts: RequestFacts,
                workload: WorkloadMeta | None) -> InjectionResult:
        config, mesh, values = self.config.config, self.config.mesh, self.config.values
        if facts.webhook and facts.platform == OPENSHIFT:
            # Istio's webhook edits the pod before anything else, so the patch baseline is the edited pod too.
            original = reset_openshift_sidecar_user(original)
        annotations = original["metadata"].get("annotations") or {}
        validate_annotations(annotations)
        proxy_config = effective_proxy_config(mesh, annotations, webhook=facts.webhook)
        status_port = mesh["defaultConfig"].get("statusPort", 0)
        stripped = reinsert_overrides(strip_pod(original, status_port))
        if stripped is not original:
            stripped = normalize_pod(stripped)
        workload = workload or workload_of_pod(stripped, facts.namespace)
        env = proxy_env(facts.path_env, original["metadata"].get("labels") or {}, values)

        names = select_templates(annotations, config.default_templates, config.aliases, self.templates.names)
        rendered = self._render_all(names, stripped, facts, workload, proxy_config)
        merged = original
        for output, template_pod in rendered:
            merged = postprocess.move_native_sidecar(merged, template_pod, facts.native_sidecars)
            merged = normalize_pod(strategic_merge(merged, output))
        template_pod = rendered[-1][1] if rendered else {}
        merged = postprocess.post_process(
            merged, original=original, template_pod=template_pod, mesh=mesh, values=values,
            revision=facts.revision or "default", path_env=env, proxy_config=proxy_config,
            injected_annotations=config.injected_annotations if facts.webhook else {},
        )
        return InjectionResult(raw=raw, original=original, pod=normalize_pod(merged))

    def _render_all(self, names: list[str], stripped: dict[str, Any], facts: RequestFacts, workload: WorkloadMeta,
                    proxy_config: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each template's parsed output with the typed union of the outputs so far (Istio's ``templatePod``).

        Both depend only on the template input, so identical inputs (same pod template, same facts) hit the cache
        and skip rendering, YAML parsing and the template-side merges. Cached values are shared: never mutate them.
        """
        # A digest: a large pod's input is ~100 KB. SHA-256, which CPUs with SHA instructions (x86 SHA-NI, ARMv8)
        # hash at twice BLAKE2b's speed. Typed, so in Go order: no sorting.
        key = hashlib.sha256(orjson.dumps(
            [names, stripped, workload.name, workload.namespace, workload.kind, workload.api_version, facts.revision,
             facts.native_sidecars, facts.proxy_uid, facts.proxy_gid, facts.compliance_policy, facts.webhook],
        )).digest()
        cached = self._rendered.get(key)
        if cached is not None:
            self._rendered.move_to_end(key)
            return cached
        data = build_template_data(
            pod=stripped, workload=workload, proxy_config=proxy_config, mesh=self.config.mesh,
            values=self.config.values, revision=facts.revision, native_sidecars=facts.native_sidecars,
            proxy_uid=facts.proxy_uid, proxy_gid=facts.proxy_gid, compliance_policy=facts.compliance_policy,
            webhook=facts.webhook,
        )
        outputs = []
        template_pod: dict[str, Any] = {}
        for name in names:
            output = self._parse(name, self.templates.render(name, data))
            template_pod = normalize_pod(strategic_merge(template_pod, output))
            outputs.append((output, template_pod))
        self._rendered[key] = outputs
        if len(self._rendered) > RENDER_CACHE_SIZE:
            self._rendered.popitem(last=False)
        return outputs

    @staticmethod
    def _parse(name: str, text: str) -> dict[str, Any]:
        try:
            parsed = _RENDERED_YAML.load(text)
        except yaml.YAMLError as exc:
            raise InjectionError(f"failed to run injection template: template {name!r} produced invalid YAML: "
                                 f"{exc}") from exc
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise InjectionError(f"failed to run injection template: template {name!r} did not produce a mapping")
        return parsed
