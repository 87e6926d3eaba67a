"""AdmissionReview codec (admission.k8s.io v1 and v1beta1): pure functions from bytes to facts and back.

The reply echoes the request's apiVersion (a v1beta1 caller must get v1beta1 back) and ``uid``; keys are written
in Go's order (kind, apiVersion, response{uid, allowed, status, patch, patchType}) so replies look like istiod's.
A body that is not a review at all is answered with Istio's bare ``{"response": {"uid": "", ...}}``.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
REVIEW_KIND = "AdmissionReview"


class ReviewError(Exception):
    """The body is not an AdmissionReview we can answer (bad JSON, wrong kind); Istio replies 200, uid ""."""


class RequestError(Exception):
    """A review without a ``request``; answered allowed:false in the review's own apiVersion (Go panics here)."""

    def __init__(self, api_version: str, message: str) -> None:
        super().__init__(message)
        self.api_version = api_version


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of ``request`` the injector uses; ``pod`` is the decoded ``request.object``."""

    api_version: str
    uid: str
    namespace: str
    operation: str
    resource_kind: str
    pod: dict[str, Any] | None
    pod_error: str | None = None
    """Why ``request.object`` cannot be a Pod (Go's decode would fail); the request is then denied."""
    pod_in_review: bool = False
    """``pod`` is only the pod's head (``lazy_review``): its ``spec`` is empty, the body carries the pod."""

    @property
    def is_pod_create(self) -> bool:
        """Missing fields count as "pod" and "CREATE": hand-written reviews often leave them out."""
        return self.resource_kind in ("", "Pod") and self.operation in ("", "CREATE")


def decode_review(body: bytes) -> AdmissionRequest:
    """Parse a review. Raises ReviewError for non-reviews, RequestError for a review without a usable request."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReviewError(f"couldn't decode admission review: {exc}") from exc
    if not isinstance(review, dict):
        raise ReviewError("couldn't decode admission review: not a JSON object")
    api_version, kind = review.get("apiVersion"), review.get("kind")
    if not kind:
        raise ReviewError("couldn't decode admission review: Object 'Kind' is missing")
    if kind != REVIEW_KIND or api_version not in API_VERSIONS:
        raise ReviewError(f"unsupported type: {api_version}, Kind={kind}; want {REVIEW_KIND} "
                          f"in {' or '.join(API_VERSIONS)}")
    request = review.get("request")
    if not isinstance(request, dict):
        raise RequestError(api_version, "admission review has no request")
    uid = request.get("uid") if isinstance(request.get("uid"), str) else ""
    resource_kind = request.get("kind") if isinstance(request.get("kind"), dict) else {}
    pod = request.get("object")
    pod_error = None
    if pod is not None:
        pod_error = pod_shape_error(pod)
        if pod_error is not None:
            pod = None
    return AdmissionRequest(
        api_version=api_version,
        uid=uid,
        namespace=str(request.get("namespace") or ""),
        operation=str(request.get("operation") or ""),
        resource_kind=str(resource_kind.get("kind") or ""),
        pod=pod,
        pod_error=pod_error,
    )


def _string_map_error(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"{field} must be a map of strings"
    bad = next((k for k, v in value.items() if not isinstance(v, str)), None)
    return None if bad is None else f"{field}[{bad!r}] must be a string"


def pod_shape_error(pod: Any) -> str | None:
    """The fields the event loop reads before a worker decodes the whole pod must have their Pod types.

    Routing, the decision and log lines read metadata, labels, annotations and ``spec.hostNetwork``; a wrong type
    there must be a clear denial, not an exception in the server. The worker's typed decode checks the rest.
    """
    if not isinstance(pod, dict):
        return "could not decode pod: the object is not a JSON object"
    metadata, spec = pod.get("metadata"), pod.get("spec")
    if metadata is not None and not isinstance(metadata, dict):
        return "could not decode pod: metadata must be an object"
    if spec is not None and not isinstance(spec, dict):
        return "could not decode pod: spec must be an object"
    for field in ("name", "generateName", "namespace"):
        if (metadata or {}).get(field) is not None and not isinstance(metadata[field], str):
            return f"could not decode pod: metadata.{field} must be a string"
    for field in ("labels", "annotations"):
        problem = _string_map_error((metadata or {}).get(field), f"metadata.{field}")
        if problem is not None:
            return f"could not decode pod: {problem}"
    if (spec or {}).get("hostNetwork") is not None and not isinstance(spec["hostNetwork"], bool):
        return "could not decode pod: spec.hostNetwork must be a boolean"
    return None


def encode_response(api_version: str | None, uid: str, *, allowed: bool, message: str | None = None,
                    patch: bytes | None = None) -> bytes:
    """The reply body. ``api_version`` None gives Istio's reply to an undecodable body (no kind/apiVersion)."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if message is not None:
        response["status"] = {"metadata": {}, "message": message}
    if patch is not None:
        response["patch"] = base64.b64encode(patch).decode("ascii")
        response["patchType"] = "JSONPatch"
    if api_version is None:
        return orjson.dumps({"response": response})
    return orjson.dumps({"kind": REVIEW_KIND, "apiVersion": api_version, "response": response})


def pod_name(pod: dict[str, Any] | None, namespace: str) -> str:
    """``namespace/name`` for messages and logs; a pod created from a template has only ``generateName``."""
    metadata = (pod or {}).get("metadata") or {}
    name = metadata.get("name") or (f"{metadata['generateName']}*" if metadata.get("generateName") else "<unnamed>")
    return f"{metadata.get('namespace') or namespace or '<no namespace>'}/{name}"
