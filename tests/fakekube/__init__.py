"""A fake Kubernetes API server (real HTTP, in-memory) and pytest fixtures around it."""
from tests.fakekube.server import KINDS, ApiError, FakeKube, LoggedRequest

__all__ = ["KINDS", "ApiError", "FakeKube", "LoggedRequest"]
