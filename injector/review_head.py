"""What an AdmissionReview says before its pod, read from the raw body without decoding the pod.

Under overload most requests are refused, and a refusal needs only the review's ``apiVersion`` and ``request.uid``;
decoding a 140 KB pod (2000 env vars) to learn them costs far more than everything else a refusal does. The
apiserver writes reviews in Go's field order (``kind``, ``apiVersion``, then ``request`` with ``uid``, ``kind``,
``resource``, ..., ``namespace``, ``operation``, ``userInfo``, and only then ``object``), so all of that is in the
first few hundred bytes: ``read_head`` cuts the body where ``request.object``'s value starts, closes the document
there (``null}}``) and lets orjson parse that head. The cut is the first ``"object":`` in the first
``HEAD_BYTES``; it is ``request.object`` exactly when the head parses and its last key is ``request`` whose last key
is ``object`` (orjson keeps key order). Anything else (the pod first, no ``request``, malformed JSON) gives None,
and the caller decodes the whole review as usual, so None costs only the search.

A head is read up to the pod: a key repeated after the pod (which a full decode would take instead) is not seen.
The apiserver never sends one; a client that does gets its refusal with the first value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

HEAD_BYTES = 16 << 10
"""How far the pod's key is looked for: Go's fields before it take ~300 bytes plus ``userInfo``'s groups and
extras."""

_OBJECT_KEY = re.compile(rb'"object"[ \t\r\n]*:')
_CLOSE = b"null}}"


@dataclass(frozen=True, slots=True)
class ReviewHead:
    """The fields of a review that precede its pod (the values a full decode would give for them)."""

    api_version: Any
    kind: Any
    uid: Any
    operation: Any
    resource_kind: Any
    namespace: Any

    @property
    def is_pod_create(self) -> bool:
        """Explicitly a Pod CREATE (a review leaving these out is decoded in full)."""
        return self.resource_kind == "Pod" and self.operation == "CREATE"


def read_head(body: bytes) -> ReviewHead | None:
    """The review's head when it precedes ``request.object`` and parses, else None."""
    match = _OBJECT_KEY.search(body, 0, HEAD_BYTES)
    if match is None:
        return None
    try:
        head = orjson.loads(body[:match.end()] + _CLOSE)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or next(reversed(head), None) != "request":
        return None
    request = head["request"]
    if not isinstance(request, dict) or next(reversed(request)) != "object":
        return None
    resource = request.get("kind")
    return ReviewHead(api_version=head.get("apiVersion"), kind=head.get("kind"), uid=request.get("uid"),
                      operation=request.get("operation"),
                      resource_kind=resource.get("kind") if isinstance(resource, dict) else None,
                      namespace=request.get("namespace"))
