# syntax=docker/dockerfile:1
# Image for `injector serve` (deploy/base/deployment.yaml). Two stages: the build stage compiles wheels and
# bytecode into a virtualenv; the runtime stage copies only that virtualenv, so no compiler, pip cache or source
# tree ships. Both stages use the same base image because a virtualenv is tied to its interpreter's path.
# tests/unit/test_dockerfile.py checks this file against pyproject.toml and deploy/ (it cannot be built here).

# 3.11: the interpreter the test suite runs on.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Metadata first so that the dependency layer is reused when only code changes.
COPY pyproject.toml README.md ./
COPY injector ./injector
COPY workers ./workers
# A regular (non-editable) install: the runtime image must not need /src. pip compiles .pyc files here,
# which matters because the runtime root filesystem is read-only.
RUN /opt/venv/bin/pip install --upgrade pip setuptools wheel \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/injector --help > /dev/null

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="py-sidecar-injector" \
      org.opencontainers.image.description="Istio-compatible sidecar injector (admission webhook)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid/gid: Kubernetes can only verify runAsNonRoot for numeric users, and
# deploy/base/deployment.yaml pins the same ids.
RUN groupadd --system --gid 10001 injector \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin injector
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
# 9443: admission webhook + /healthz + /readyz (TLS); 15014: /metrics (Istio's monitoring port).
EXPOSE 9443 15014
ENTRYPOINT ["injector"]
# The Deployment passes its own args; this default matches it except for the cluster wiring.
CMD ["serve", "--port=9443", "--tls-cert-file=/etc/injector/tls/tls.crt", "--tls-key-file=/etc/injector/tls/tls.key", "--monitoring-port=15014"]
