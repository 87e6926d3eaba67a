"""Revision resolution mirrors the selectors of Istio's per-revision webhooks."""
import pytest

from injector.routing import resolve_revision, webhook_selects


@pytest.mark.parametrize("pod,ns,want", [
    ({}, {"istio-injection": "enabled"}, "default"),
    ({"sidecar.istio.io/inject": "false"}, {"istio-injection": "enabled"}, None),
    ({}, {"istio-injection": "disabled"}, None),
    ({"istio.io/rev": "canary"}, {"istio-injection": "enabled"}, "default"),
    ({}, {"istio.io/rev": "canary"}, "canary"),
    ({"istio.io/rev": "other"}, {"istio.io/rev": "canary"}, "canary"),
    ({"istio.io/rev": "canary"}, {}, "canary"),
    ({"sidecar.istio.io/inject": "true"}, {}, "default"),
    ({}, {}, None),
    ({"istio.io/rev": "canary"}, {"istio-injection": "disabled"}, None),
])
def test_resolve_revision(pod: dict, ns: dict, want: str | None) -> None:
    assert resolve_revision(pod, ns) == want


def test_webhook_selects_names_the_other_revision() -> None:
    selected, why = webhook_selects({}, {"istio.io/rev": "canary"}, "default")
    assert not selected and "canary" in why
