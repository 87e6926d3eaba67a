"""The server's TLS context, with the certificate and key swapped on change without a restart.

The listening socket keeps one ``SSLContext`` for its lifetime; its SNI callback (which OpenSSL runs for every
handshake, with or without a server name) hands each new connection the most recently loaded context.
A replacement is built from the files first and only then swapped in, so a half-written or mismatched
certificate/key pair is rejected and the previous one keeps serving. Established connections are unaffected.
"""
from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Callable

from injector.sources.files import watch

log = logging.getLogger(__name__)


def _server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


class ReloadingTLS:
    """Owns the listening ``context`` and the ``current`` one that handshakes actually use."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self._cert_file = cert_file
        self._key_file = key_file
        self.current = _server_context(cert_file, key_file)
        self.context = _server_context(cert_file, key_file)
        self.context.sni_callback = self._select

    def _select(self, connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
        connection.context = self.current

    def reload(self) -> bool:
        """Load the files again; on failure keep the current certificate (and say why in the log)."""
        try:
            self.current = _server_context(self._cert_file, self._key_file)
        except (OSError, ssl.SSLError) as exc:
            log.error("keeping the current serving certificate: cannot load %s / %s: %s",
                      self._cert_file, self._key_file, exc)
            return False
        log.info("serving certificate reloaded from %s", self._cert_file)
        return True

    async def watch(self, *, interval: float = 1.0, on_result: Callable[[bool], None] | None = None) -> None:
        """Reload whenever the certificate or key file changes; runs until cancelled."""
        async def on_change() -> None:
            loaded = self.reload()
            if on_result is not None:
                on_result(loaded)

        await watch([self._cert_file, self._key_file], on_change, interval=interval)
