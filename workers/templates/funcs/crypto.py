"""sprig's crypto functions on the ``cryptography`` and ``bcrypt`` libraries, interoperable with sprig's: keys and
certificates in the same PEM forms, AES-256-CBC with sprig's key and padding rules, bcrypt ``$2a$`` hashes, and
``derivePassword`` (Master Password's scrypt scheme), which is deterministic and so equal to Go's output."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import importlib
import ipaddress
import os
import re
import secrets
import uuid
from typing import Any

from workers.templates.govalues import GoStruct, from_go_bytes, go_bytes

from .encoding import CorruptInput, b64_decode
from .registry import FuncTable


class _Deferred:
    """A module imported on first attribute access. ``cryptography`` and ``bcrypt`` hold ~9 MB resident in every
    process that imports them, and only these few functions (which Istio's templates never call) need them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


bcrypt_lib = _Deferred("bcrypt")
x509 = _Deferred("cryptography.x509")
_oid = _Deferred("cryptography.x509.oid")
hashes = _Deferred("cryptography.hazmat.primitives.hashes")
serialization = _Deferred("cryptography.hazmat.primitives.serialization")
dsa = _Deferred("cryptography.hazmat.primitives.asymmetric.dsa")
ec = _Deferred("cryptography.hazmat.primitives.asymmetric.ec")
ed25519 = _Deferred("cryptography.hazmat.primitives.asymmetric.ed25519")
rsa = _Deferred("cryptography.hazmat.primitives.asymmetric.rsa")
_ciphers = _Deferred("cryptography.hazmat.primitives.ciphers")

SPRIG = FuncTable()
go = SPRIG.go


class Certificate(GoStruct):
    """sprig's ``certificate`` struct: PEM ``Cert`` and ``Key``."""

    __slots__ = ("Cert", "Key")
    go_type = "sprig.certificate"
    go_fields = ("Cert", "Key")

    def __init__(self, cert: str = "", key: str = "") -> None:
        self.Cert = cert
        self.Key = key


class CryptoError(ValueError):
    pass


@go("func(string) string", "bcrypt")
def bcrypt(password: str) -> str:
    """A bcrypt hash at cost 10, ``$2a$`` form as Go's x/crypto writes it."""
    data = go_bytes(password)
    if len(data) > 72:
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
    hashed = bcrypt_lib.hashpw(data, bcrypt_lib.gensalt(rounds=10, prefix=b"2a"))
    return hashed.decode()


@go("func(string, string) string", "htpasswd")
def htpasswd(user: str, password: str) -> str:
    if ":" in user:
        return f"invalid username: {user}"
    return f"{user}:{bcrypt(password)}"


@go("func(int) (string, error)", "randBytes")
def rand_bytes(count: int) -> str:
    if count < 0:
        raise ValueError("runtime error: makeslice: len out of range")
    return base64.b64encode(secrets.token_bytes(count)).decode()


@go("func() string", "uuidv4")
def uuidv4() -> str:
    return str(uuid.uuid4())


# ---- derivePassword --------------------------------------------------------------------------------------------

_SEED = b"com.lyndir.masterpassword"
_TEMPLATES = {
    "maximum": ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
    "long": ["CvcvnoCvcvCvcv", "CvcvCvcvnoCvcv", "CvcvCvcvCvcvno", "CvccnoCvcvCvcv", "CvccCvcvnoCvcv",
             "CvccCvcvCvcvno", "CvcvnoCvccCvcv", "CvcvCvccnoCvcv", "CvcvCvccCvcvno", "CvcvnoCvcvCvcc",
             "CvcvCvcvnoCvcc", "CvcvCvcvCvccno", "CvccnoCvccCvcv", "CvccCvccnoCvcv", "CvccCvccCvcvno",
             "CvcvnoCvccCvcc", "CvcvCvccnoCvcc", "CvcvCvccCvccno", "CvccnoCvcvCvcc", "CvccCvcvnoCvcc",
             "CvccCvcvCvccno"],
    "medium": ["CvcnoCvc", "CvcCvcno"],
    "short": ["Cvcn"],
    "basic": ["aaanaaan", "aannaaan", "aaannaaa"],
    "pin": ["nnnn"],
}
_CHARACTERS = {
    "V": "AEIOU", "C": "BCDFGHJKLMNPQRSTVWXYZ", "v": "aeiou", "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ", "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789", "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}


@go("func(uint32, string, string, string, string) string", "derivePassword")
def derive_password(counter: int, password_type: str, password: str, user: str, site: str) -> str:
    """Master Password: scrypt(password, seed+user) keys an HMAC of seed+site+counter, which picks a template
    and its characters."""
    templates = _TEMPLATES.get(password_type)
    if templates is None:
        return f"cannot find password template {password_type}"
    user_b, site_b = go_bytes(user), go_bytes(site)
    salt = _SEED + len(user_b).to_bytes(4, "big") + user_b
    key = hashlib.scrypt(go_bytes(password), salt=salt, n=32768, r=8, p=2, dklen=64, maxmem=128 * 1024 * 1024)
    message = _SEED + len(site_b).to_bytes(4, "big") + site_b + (counter & 0xFFFFFFFF).to_bytes(4, "big")
    seed = hmac.new(key, message, hashlib.sha256).digest()
    template = templates[seed[0] % len(templates)]
    return "".join(_CHARACTERS[c][seed[i + 1] % len(_CHARACTERS[c])] for i, c in enumerate(template))


# ---- keys ------------------------------------------------------------------------------------------------------

def _pem_key(key: Any) -> str:
    """sprig's ``pemBlockForKey``: PKCS#1 for RSA, SEC 1 for EC, OpenSSL's DSA form, PKCS#8 for the rest."""
    fmt = serialization.PrivateFormat.PKCS8 if isinstance(key, ed25519.Ed25519PrivateKey) else \
        serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@go("func(string) string", "genPrivateKey")
def gen_private_key(kind: str) -> str:
    if kind in ("", "rsa"):
        key: Any = rsa.generate_private_key(65537, 4096)
    elif kind == "dsa":
        key = dsa.generate_private_key(2048)
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        return "Unknown type " + kind
    return _pem_key(key)


_PEM_BLOCK = re.compile(rb"-----BEGIN ([^\n-]*)-----\r?\n(.*?)-----END \1-----", re.S)


def _pem_decode(data: bytes) -> tuple[str, bytes] | None:
    """The first PEM block (type, DER) as Go's ``pem.Decode`` finds it, or None."""
    for m in _PEM_BLOCK.finditer(data):
        body = m.group(2)
        lines = [ln for ln in body.split(b"\n") if b":" not in ln]  # headers are skipped
        try:
            return m.group(1).decode(), base64.b64decode(b"".join(lines).replace(b"\r", b""), validate=False)
        except ValueError:
            continue
    return None


def _parse_private_key(text: str) -> Any:
    block = _pem_decode(go_bytes(text))
    if block is None:
        raise CryptoError("no PEM data in input")
    kind, der = block
    try:
        if kind == "PRIVATE KEY":
            return serialization.load_der_private_key(der, None)
        if not kind.endswith(" PRIVATE KEY"):
            raise CryptoError(f"no private key data in PEM block of type {kind}")
        if kind[:-12] in ("RSA", "EC", "DSA"):
            return serialization.load_der_private_key(der, None)
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"parsing private key from PEM: {exc}") from None
    raise CryptoError(f"invalid private key type {kind}")


# ---- certificates ----------------------------------------------------------------------------------------------

def _ips(ips: list[Any] | None) -> list[x509.IPAddress]:
    out = []
    for ip in ips or ():
        if not isinstance(ip, str):
            raise CryptoError(f"error parsing ip: {ip} is not a string")
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise CryptoError(f"error parsing ip: {ip}") from None
    return out


def _dns_names(names: list[Any] | None) -> list[x509.DNSName]:
    out = []
    for name in names or ():
        if not isinstance(name, str):
            raise CryptoError(f"error processing alternate dns name: {name} is not a string")
        out.append(x509.DNSName(name))
    return out


def _signing_hash(key: Any) -> Any:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return hashes.SHA256()
    raise CryptoError("error creating certificate: x509: only RSA, ECDSA and Ed25519 keys supported")


def _certificate(cn: str, ips: list[Any] | None, dns: list[Any] | None, days: int, key: Any,
                 issuer: x509.Certificate | None, issuer_key: Any, is_ca: bool) -> Certificate:
    """sprig's ``getBaseCertTemplate`` + ``getCertAndKey``: a server+client certificate (or a CA)."""
    san = _ips(ips) + _dns_names(dns)  # Go lists IP addresses and DNS names in one extension
    hash_alg = _signing_hash(issuer_key)
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(_oid.NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(secrets.randbits(128) or 1)
               .not_valid_before(now)
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=True, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=is_ca, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([_oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                     _oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if is_ca:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                        critical=False)
    if issuer is not None:
        try:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                                            critical=False)
        except x509.ExtensionNotFound:
            pass
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    try:
        cert = builder.sign(issuer_key, hash_alg)
    except ValueError as exc:
        raise CryptoError(f"error creating certificate: {exc}") from None
    return Certificate(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


def _rsa_2048() -> Any:
    return rsa.generate_private_key(65537, 2048)


@go("func(string, int) (sprig.certificate, error)", "genCA")
def gen_ca(cn: str, days: int) -> Certificate:
    key = _rsa_2048()
    return _certificate(cn, None, None, days, key, None, key, is_ca=True)


@go("func(string, int, string) (sprig.certificate, error)", "genCAWithKey")
def gen_ca_with_key(cn: str, days: int, key_pem: str) -> Certificate:
    key = _parse_private_key(key_pem)
    return _certificate(cn, None, None, days, key, None, key, is_ca=True)


@go("func(string, []interface {}, []interface {}, int) (sprig.certificate, error)", "genSelfSignedCert")
def gen_self_signed_cert(cn: str, ips: list[Any] | None, dns: list[Any] | None, days: int) -> Certificate:
    key = _rsa_2048()
    return _certificate(cn, ips, dns, days, key, None, key, is_ca=False)


@go("func(string, []interface {}, []interface {}, int, string) (sprig.certificate, error)",
    "genSelfSignedCertWithKey")
def gen_self_signed_cert_with_key(cn: str, ips: list[Any] | None, dns: list[Any] | None, days: int,
                                  key_pem: str) -> Certificate:
    key = _parse_private_key(key_pem)
    return _certificate(cn, ips, dns, days, key, None, key, is_ca=False)


def _signer(ca: Certificate) -> tuple[x509.Certificate, Any]:
    block = _pem_decode(go_bytes(ca.Cert))
    if block is None:
        raise CryptoError("unable to decode certificate")
    try:
        cert = x509.load_der_x509_certificate(block[1])
    except ValueError as exc:
        raise CryptoError(f"error parsing certificate: decodedSignerCert.Bytes: {exc}") from None
    return cert, _parse_private_key(ca.Key)


@go("func(string, []interface {}, []interface {}, int, sprig.certificate) (sprig.certificate, error)",
    "genSignedCert")
def gen_signed_cert(cn: str, ips: list[Any] | None, dns: list[Any] | None, days: int,
                    ca: Certificate) -> Certificate:
    key = _rsa_2048()
    issuer, issuer_key = _signer(ca)
    return _certificate(cn, ips, dns, days, key, issuer, issuer_key, is_ca=False)


@go("func(string, []interface {}, []interface {}, int, sprig.certificate, string) (sprig.certificate, error)",
    "genSignedCertWithKey")
def gen_signed_cert_with_key(cn: str, ips: list[Any] | None, dns: list[Any] | None, days: int, ca: Certificate,
                             key_pem: str) -> Certificate:
    key = _parse_private_key(key_pem)
    issuer, issuer_key = _signer(ca)
    return _certificate(cn, ips, dns, days, key, issuer, issuer_key, is_ca=False)


@go("func(string, string) (sprig.certificate, error)", "buildCustomCert")
def build_custom_cert(b64cert: str, b64key: str) -> Certificate:
    try:
        cert = b64_decode(b64cert)
    except CorruptInput:
        raise CryptoError("unable to decode base64 certificate") from None
    try:
        key = b64_decode(b64key)
    except CorruptInput:
        raise CryptoError("unable to decode base64 private key") from None
    block = _pem_decode(cert)
    if block is None:
        raise CryptoError("unable to decode certificate")
    try:
        x509.load_der_x509_certificate(block[1])
    except ValueError as exc:
        raise CryptoError(f"error parsing certificate: decodedCert.Bytes: {exc}") from None
    _parse_private_key(from_go_bytes(key))
    return Certificate(from_go_bytes(cert), from_go_bytes(key))


# ---- AES -------------------------------------------------------------------------------------------------------

def _aes_key(password: str) -> bytes:
    return go_bytes(password)[:32].ljust(32, b"\0")


@go("func(string, string) (string, error)", "encryptAES")
def encrypt_aes(password: str, plaintext: str) -> str:
    """AES-256-CBC, key = the password's bytes zero-padded/cut to 32, PKCS#7 padding, random IV in front."""
    if plaintext == "":
        return ""
    content = go_bytes(plaintext)
    pad = 16 - len(content) % 16
    content += bytes([pad]) * pad
    iv = os.urandom(16)
    encryptor = _ciphers.Cipher(_ciphers.algorithms.AES(_aes_key(password)), _ciphers.modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(content) + encryptor.finalize()).decode()


@go("func(string, string) (string, error)", "decryptAES")
def decrypt_aes(password: str, crypt64: str) -> str:
    """The inverse; like sprig, the last byte says how much padding to drop (it is not checked further)."""
    if crypt64 == "":
        return ""
    data = b64_decode(crypt64)
    if len(data) < 16:
        raise CryptoError("runtime error: slice bounds out of range")
    iv, body = data[:16], data[16:]
    if len(body) % 16:
        raise CryptoError("crypto/cipher: input not full blocks")
    decryptor = _ciphers.Cipher(_ciphers.algorithms.AES(_aes_key(password)), _ciphers.modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    if not plain:
        raise CryptoError("runtime error: index out of range [-1]")
    cut = len(plain) - plain[-1]
    if cut < 0:
        raise CryptoError("runtime error: slice bounds out of range")
    return from_go_bytes(plain[:cut])


__all__ = ["Certificate", "SPRIG"]
