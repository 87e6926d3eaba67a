"""Proxy image names as Istio computes them (``ProxyImage``, ``ProxyInitImage``): hub, image, tag and type."""
from __future__ import annotations

from typing import Any, Mapping

from workers.templates.gofmt import format_value

PROXY_IMAGE_TYPE_ANNOTATION = "sidecar.istio.io/proxyImageType"
# Only the published variants are recognised on a tag: "default" is never a tag suffix (its image has none), so a
# tag ending in "-default" keeps it, exactly as Istio's updateImageTypeIfPresent does.
_TYPE_SUFFIXES = ("-distroless", "-debug")


def _with_type(tag: str, image_type: str) -> str:
    """A non-empty type replaces a type suffix already on the tag; ``default`` adds nothing."""
    if not image_type:
        return tag
    for suffix in _TYPE_SUFFIXES:
        if tag.endswith(suffix):
            tag = tag[: -len(suffix)]
            break
    return tag if image_type == "default" else f"{tag}-{image_type}"


def _image(values: Mapping[str, Any], section: str, image_type: str) -> str:
    glob = values.get("global") or {}
    name = (glob.get(section) or {}).get("image") or "proxyv2"
    tag = glob.get("tag")
    tag_text = "" if tag is None else format_value(tag)
    return f"{glob.get('hub') or ''}/{name}:{_with_type(tag_text, image_type)}"


def proxy_image(values: Mapping[str, Any], proxy_config: Mapping[str, Any], annotations: Mapping[str, str]) -> str:
    """Type: the pod annotation, else ProxyConfig ``image.imageType``, else ``global.variant``."""
    image_type = annotations.get(PROXY_IMAGE_TYPE_ANNOTATION)
    if image_type is None:
        image_type = (proxy_config.get("image") or {}).get("imageType") or (values.get("global") or {}).get("variant") or ""
    return _image(values, "proxy", image_type)


def proxy_init_image(values: Mapping[str, Any], annotations: Mapping[str, str]) -> str:
    """Type: the pod annotation, else ``global.variant`` (ProxyConfig is not consulted for the init image)."""
    image_type = annotations.get(PROXY_IMAGE_TYPE_ANNOTATION)
    if image_type is None:
        image_type = (values.get("global") or {}).get("variant") or ""
    return _image(values, "proxy_init", image_type)
