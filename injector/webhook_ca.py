"""Keep the ``caBundle`` of our own MutatingWebhookConfigurations equal to the CA of our serving certificate.

The apiserver verifies the webhook's certificate against ``clientConfig.caBundle``. When the serving certificate is
re-issued by a new CA (or the configurations are re-applied without a bundle, as ``deploy/`` ships them), every pod
creation they select fails closed until someone patches the bundle. istiod does this for its own configurations;
``injector serve`` does it with ``--webhook-config-name`` / ``--webhook-config-selector``:

* Informers (list + watch, :mod:`injector.sources.informer`) follow exactly the configurations we own: one per name
  (``fieldSelector=metadata.name=<name>``) and/or one per label selector. Any ADDED/MODIFIED event re-checks that
  configuration, so an ``kubectl apply`` that resets the bundle is repaired within a watch round trip.
* The CA file is polled like the other mounted files; a change re-checks every cached configuration.
* A configuration is patched only when some webhook's bundle differs, with a JSON Patch whose every ``replace`` is
  guarded by a ``test`` of that webhook's name at that index. A concurrent edit that reorders the webhooks makes the
  apiserver refuse the whole patch instead of giving a bundle to the wrong entry; the edit's own watch event then
  triggers a fresh attempt. Other failures are retried with backoff.

Least privilege: ``patch`` on the owned configurations only (the ClusterRoles in ``deploy/revisions``) plus
``list``/``watch`` on mutatingwebhookconfigurations. We never ``update``, so no read-modify-write can drop fields a
newer apiserver knows and we do not.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
from cryptography import x509
from kubernetes_asyncio import client as k8s

from injector.sources.files import watch as watch_files
from injector.sources.informer import JSON, Backoff, Informer, KubeApiError, object_key

log = logging.getLogger(__name__)


class CABundleError(Exception):
    """The CA file cannot serve as a caBundle (unreadable, or no PEM certificate in it)."""


def read_ca_bundle(path: Path) -> bytes:
    """The file's bytes, after checking they hold at least one PEM certificate.

    Validation matters because the apiserver accepts any bytes as caBundle: a half-written or wrong file would
    silently break every pod creation the configuration selects.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CABundleError(f"cannot read CA file {path}: {exc.strerror or exc}") from exc
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CABundleError(f"CA file {path} holds no valid PEM certificate: {exc}") from exc
    return data


def ca_bundle_patch(configuration: JSON, ca_bundle: bytes) -> list[JSON]:
    """JSON Patch giving every webhook of ``configuration`` this bundle; empty when all already have it."""
    encoded = base64.b64encode(ca_bundle).decode()
    operations: list[JSON] = []
    for index, webhook in enumerate(configuration.get("webhooks") or ()):
        client_config = webhook.get("clientConfig") or {}
        if client_config.get("caBundle") == encoded:
            continue
        operations.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook["name"]})
        operations.append({"op": "replace" if "caBundle" in client_config else "add",
                           "path": f"/webhooks/{index}/clientConfig/caBundle", "value": encoded})
    return operations


@dataclass(frozen=True)
class WebhookSelection:
    """Which configurations we own: by name (repeatable) and/or by label selector."""

    names: tuple[str, ...] = ()
    label_selector: str | None = None

    def __bool__(self) -> bool:
        return bool(self.names or self.label_selector)


class CABundleSync:
    """Informers over the owned configurations plus a CA file watch; ``run()`` until cancelled."""

    def __init__(self, api: k8s.ApiClient, ca_file: Path, selection: WebhookSelection, *,
                 watch_interval: float = 1.0, backoff: Backoff = Backoff()) -> None:
        if not selection:
            raise ValueError("CABundleSync needs at least one webhook configuration name or a label selector")
        self._admission = k8s.AdmissionregistrationV1Api(api)
        self._ca_file = ca_file
        self._watch_interval = watch_interval
        self._backoff = backoff
        self._ca_bundle: bytes | None = None
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        list_func = self._admission.list_mutating_webhook_configuration
        self._informers = [
            Informer(list_func, name=f"webhook-ca:{name}", field_selector=f"metadata.name={name}",
                     on_event=self._on_event, backoff=backoff)
            for name in selection.names
        ]
        if selection.label_selector:
            self._informers.append(Informer(list_func, name=f"webhook-ca:{selection.label_selector}",
                                            label_selector=selection.label_selector, on_event=self._on_event,
                                            backoff=backoff))

    @property
    def ca_bundle(self) -> bytes | None:
        """The bundle currently being enforced (None until the CA file was read successfully)."""
        return self._ca_bundle

    def configurations(self) -> dict[str, JSON]:
        """The owned configurations as last seen, by name."""
        return {key: obj for informer in self._informers for key, obj in informer.cache.items()}

    async def run(self) -> None:
        """Read the CA, start the informers, then follow the CA file; stops everything when cancelled."""
        self._load_ca()
        for informer in self._informers:
            informer.start()
        try:
            await watch_files([self._ca_file], self._on_ca_file_change, interval=self._watch_interval)
        finally:
            if self._retry is not None:
                self._retry.cancel()
            await asyncio.gather(*(informer.stop() for informer in self._informers))

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Return once every informer has listed (and the patches for that list were attempted)."""
        async with asyncio.timeout(timeout):
            for informer in self._informers:
                await informer.wait_synced()

    # ------------------------------------------------------------------------------------------- internals

    def _load_ca(self) -> bool:
        """Re-read the CA file; on failure keep enforcing the previous bundle, so a bad write breaks nothing."""
        try:
            bundle = read_ca_bundle(self._ca_file)
        except CABundleError as exc:
            log.error("webhook caBundle: %s; keeping the previous bundle", exc)
            return False
        changed = bundle != self._ca_bundle
        self._ca_bundle = bundle
        return changed

    async def _on_ca_file_change(self) -> None:
        if self._load_ca():
            log.info("webhook caBundle: CA file %s changed; re-checking %d configurations", self._ca_file,
                     len(self.configurations()))
            await self._reconcile_all()

    async def _on_event(self, event_type: str, configuration: JSON) -> None:
        if event_type != "DELETED" and not await self._reconcile(configuration):
            self._schedule_retry()

    async def _reconcile_all(self) -> None:
        results = [await self._reconcile(c) for c in self.configurations().values()]
        if not all(results):
            self._schedule_retry()

    async def _reconcile(self, configuration: JSON) -> bool:
        """Patch one configuration if needed; False when it should be tried again later."""
        async with self._lock:
            if self._ca_bundle is None:
                return True
            name = object_key(configuration)
            operations = ca_bundle_patch(configuration, self._ca_bundle)
            if not operations:
                return True
            try:
                response = await self._admission.patch_mutating_webhook_configuration(
                    name, operations, _preload_content=False)
                async with response:
                    if response.status >= 300:
                        raise await KubeApiError.from_response(response)
            except KubeApiError as exc:
                if exc.code in (404, 422):
                    # Deleted or edited under us (a failed name test is 422): its watch event brings the new state.
                    log.info("webhook caBundle: %s changed while patching (%s); waiting for its next version",
                             name, exc)
                    return True
                log.warning("webhook caBundle: patching %s failed: %s; will retry", name, exc)
                return False
            except (k8s.ApiException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook caBundle: patching %s failed: %s; will retry", name, exc)
                return False
            log.info("webhook caBundle: patched %d webhooks of %s", len(operations) // 2, name)
            return True

    def _schedule_retry(self) -> None:
        """One retry loop at a time; it re-checks everything from the cache until a round succeeds."""
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_until_done(), name="webhook-ca-retry")

    async def _retry_until_done(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(self._backoff.delay(attempt))
            attempt += 1
            results = [await self._reconcile(c) for c in self.configurations().values()]
            if all(results):
                return


@contextlib.asynccontextmanager
async def running(api_factory: Callable[[], Awaitable[k8s.ApiClient]], ca_file: Path, selection: WebhookSelection, *,
                  watch_interval: float = 1.0) -> AsyncIterator[CABundleSync]:
    """Run a :class:`CABundleSync` (with its own API client) for the duration of the block."""
    api = await api_factory()
    sync = CABundleSync(api, ca_file, selection, watch_interval=watch_interval)
    task = asyncio.create_task(sync.run(), name="webhook-ca")
    try:
        yield sync
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.close()


def cleanup_context(args: argparse.Namespace) -> Callable[[Any], AsyncIterator[None]]:
    """An aiohttp ``cleanup_ctx`` entry running the sync while ``injector serve`` runs.

    Resolving the CA file happens here, before anything is served, so a wrong path stops the server at once with
    a message instead of leaving the configurations stale.
    """
    from injector.sources.kube import load_client

    ca_file = args.ca_cert_file or args.tls_cert_file.with_name("ca.crt")
    try:
        read_ca_bundle(ca_file)
    except CABundleError as exc:
        hint = "" if args.ca_cert_file else " (give --ca-cert-file: there is no ca.crt beside --tls-cert-file)"
        raise SystemExit(f"injector serve: {exc}{hint}") from None
    selection = WebhookSelection(tuple(args.webhook_config_names), args.webhook_config_selector)

    async def context(_app: Any) -> AsyncIterator[None]:
        async with running(functools.partial(load_client, args.kubeconfig), ca_file, selection,
                           watch_interval=args.watch_interval):
            yield

    return context
