"""The one exception type for injection failures a user (pod author or config owner) caused."""
from __future__ import annotations


class InjectionError(Exception):
    """Injection cannot proceed; ``str(err)`` is Istio's message text, suitable for an admission response."""
