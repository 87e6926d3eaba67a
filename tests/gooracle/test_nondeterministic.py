"""Functions whose results are not repeatable (random, clock, keys, DNS): each runs in Go and in ours, both must
succeed and give a result of the same shape; crypto results must interoperate (certificates parse and verify,
AES ciphertexts decrypt on the other side, bcrypt hashes verify)."""
from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Callable

import bcrypt as bcrypt_lib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from tests.gooracle.client import Oracle, Outcome, ours
from tests.gooracle.data import POD


def _matches(pattern: str) -> Callable[[str], bool]:
    rx = re.compile(pattern, re.S)
    return lambda text: rx.fullmatch(text) is not None


_YEAR = dt.datetime.now(dt.timezone.utc).year
_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+( m=[+-]\d+\.\d+)?"


def _year_now(text: str) -> bool:
    return text.isdigit() and abs(int(text) - _YEAR) <= 1


def _pem_key(kind: type) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        return isinstance(serialization.load_pem_private_key(text.encode(), None), kind)
    return check


def _cert(cn: str, is_ca: bool, sans: tuple[str, ...] = ()) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        cert_pem, _, key_pem = text.partition("|")
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        serialization.load_pem_private_key(key_pem.encode(), None)
        names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        found: list[str] = []
        if sans:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            found = [str(v) for v in ext.get_values_for_type(x509.IPAddress)] + ext.get_values_for_type(x509.DNSName)
        return names == [cn] and ca is is_ca and sorted(found) == sorted(sans)
    return check


def _signed_by_ca(text: str) -> bool:
    ca_pem, _, leaf_pem = text.partition("|")
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    leaf.verify_directly_issued_by(ca)
    return leaf.issuer == ca.subject and not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def _bcrypt_of(password: str, prefix: str = "") -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if not text.startswith(prefix):
            return False
        hashed = text[len(prefix):]
        return re.fullmatch(r"\$2a\$10\$[./A-Za-z0-9]{53}", hashed) is not None and \
            bcrypt_lib.checkpw(password.encode(), hashed.encode())
    return check


def _shuffled(original: str) -> Callable[[str], bool]:
    return lambda text: sorted(text) == sorted(original)


def _b64_of_length(n: int) -> Callable[[str], bool]:
    return lambda text: len(base64.b64decode(text, validate=True)) == n


_CA = '$ca := genCA "oracle-ca" 30'
# (template, check of the output): run against the POD data shape.
SHAPE_CASES: list[tuple[str, Callable[[str], bool]]] = [
    ("{{ uuidv4 }}", _matches(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")),
    ("{{ uuidv4 | len }}|{{ ne uuidv4 uuidv4 }}", _matches(r"36\|true")),
    ("{{ randAlphaNum 12 }}", _matches(r"[A-Za-z0-9]{12}")),
    ("{{ randAlpha 7 }}", _matches(r"[A-Za-z]{7}")),
    ("{{ randAscii 9 }}", _matches(r"[ -~]{9}")),
    ("{{ randNumeric 6 }}", _matches(r"[0-9]{6}")),
    ("{{ randBytes 12 }}", _b64_of_length(12)),
    ("{{ randBytes 0 }}", _matches("")),
    ("{{ randInt 3 9 }}", lambda t: t.isdigit() and 3 <= int(t) < 9),
    ("{{ randInt -5 -4 }}", _matches("-5")),
    ('{{ shuffle "abcdef✓" }}', _shuffled("abcdef✓")),
    ("{{ now }}", _matches(_TIME)),
    ('{{ now | date "2006" }}', _year_now),
    ('{{ date "2006" .Values.ts }}', _year_now),  # a float64 date is "now" to sprig
    ('{{ dateInZone "2006" now "UTC" }}|{{ date_in_zone "2006" "x" "Asia/Tokyo" }}', _matches(rf"{_YEAR}\|\d{{4}}")),
    ("{{ htmlDate now }}", _matches(r"\d{4}-\d\d-\d\d")),
    ('{{ htmlDateInZone now "Europe/Paris" }}|{{ htmlDateInZone "" "UTC" }}', _matches(r"\d{4}-\d\d-\d\d\|\d{4}-\d\d-\d\d")),
    ('{{ ago (toDate "2006" "2020") }}', _matches(r"\d+h\d+m\d+s")),
    ('{{ ago now }}|{{ ago "x" }}', _matches(r"0s\|0s")),
    ('{{ durationRound now }}|{{ durationRound (toDate "2006" "2020") }}', _matches(r"0s\|\d+y")),
    ('{{ (now).Year }}|{{ now.Format "2006" }}', lambda t: t.split("|")[0] == t.split("|")[1] and _year_now(t[:4])),
    ('{{ bcrypt "s3cret" }}', _bcrypt_of("s3cret")),
    ('{{ bcrypt "" }}', _bcrypt_of("")),
    ('{{ htpasswd "user" "pw✓" }}', _bcrypt_of("pw✓", "user:")),
    ('{{ genPrivateKey "rsa" }}', _pem_key(rsa.RSAPrivateKey)),
    ('{{ genPrivateKey "" | trunc 31 }}', _matches("-----BEGIN RSA PRIVATE KEY-----")),
    ('{{ genPrivateKey "ecdsa" }}', _pem_key(ec.EllipticCurvePrivateKey)),
    ('{{ genPrivateKey "ed25519" }}', _pem_key(ed25519.Ed25519PrivateKey)),
    ('{{ genPrivateKey "dsa" }}', _pem_key(dsa.DSAPrivateKey)),
    ('{{ ' + _CA + ' }}{{ $ca.Cert }}|{{ $ca.Key }}', _cert("oracle-ca", True)),
    ('{{ $c := genCAWithKey "keyed-ca" 7 (genPrivateKey "ecdsa") }}{{ $c.Cert }}|{{ $c.Key }}', _cert("keyed-ca", True)),
    ('{{ $c := genSelfSignedCert "svc" (list "10.0.0.1" "::1") (list "a.b" "c.d") 30 }}{{ $c.Cert }}|{{ $c.Key }}',
     _cert("svc", False, ("10.0.0.1", "::1", "a.b", "c.d"))),
    ('{{ $c := genSelfSignedCertWithKey "k" nil nil 1 (genPrivateKey "ed25519") }}{{ $c.Cert }}|{{ $c.Key }}',
     _cert("k", False)),
    ('{{ ' + _CA + ' }}{{ $c := genSignedCert "leaf" nil (list "x.y") 3 $ca }}{{ $ca.Cert }}|{{ $c.Cert }}',
     _signed_by_ca),
    ('{{ ' + _CA + ' }}{{ $c := genSignedCertWithKey "leaf" (list "1.2.3.4") nil 3 $ca (genPrivateKey "ecdsa") }}'
     '{{ $ca.Cert }}|{{ $c.Cert }}', _signed_by_ca),
    ('{{ ' + _CA + ' }}{{ $c := buildCustomCert ($ca.Cert | b64enc) ($ca.Key | b64enc) }}{{ eq $c.Cert $ca.Cert }}'
     '|{{ eq $c.Key $ca.Key }}', _matches(r"true\|true")),
    ('{{ typeOf (genCA "x" 1) }}|{{ kindOf (genCA "x" 1) }}', _matches(r"sprig\.certificate\|struct")),
    ('{{ encryptAES "key" "secret ✓" | decryptAES "key" }}', _matches("secret ✓")),
    ('{{ encryptAES "a-very-long-password-longer-than-32-bytes" "x" | decryptAES "a-very-long-password-longer-than-32-bytes" }}',
     _matches("x")),
    ('{{ encryptAES "k" "sixteen bytes!!!" | b64dec | len }}', _matches("48")),  # IV + data + a whole padding block
    ('{{ getHostByName "localhost" }}', lambda t: t in ("127.0.0.1", "::1")),
    ('{{ keys (dict "a" 1 "b" 2) | sortAlpha }}|{{ values (dict "a" 1 "b" 1) }}', _matches(r"\[a b\]\|\[1 1\]")),
]


@pytest.mark.parametrize("template, check", SHAPE_CASES, ids=[c[0][:60] for c in SHAPE_CASES])
def test_same_shape_as_go(oracle: Oracle, template: str, check: Callable[[str], bool]) -> None:
    for side, outcome in (("go", oracle.render(template, POD)), ("ours", ours(template, POD))):
        assert not outcome.failed, f"{side}: {outcome.describe()}"
        text = outcome.output.decode()
        assert check(text), f"{side} gave an unexpected shape: {text!r}"


def _ciphertext(outcome: Outcome) -> str:
    assert not outcome.failed, outcome.describe()
    return outcome.output.decode()


def test_aes_ciphertexts_interoperate(oracle: Oracle) -> None:
    """sprig's encryptAES output decrypts with ours and the other way round."""
    make = '{{ encryptAES "shared key" "payload ✓" }}'
    go_ct, our_ct = _ciphertext(oracle.render(make, POD)), _ciphertext(ours(make, POD))
    assert go_ct != our_ct  # random IVs
    for ct in (go_ct, our_ct):
        read = '{{ decryptAES "shared key" "' + ct + '" }}'
        assert ours(read, POD).output == "payload ✓".encode()
        assert oracle.render(read, POD).output == "payload ✓".encode()


def test_our_bcrypt_hashes_verify_with_the_library_go_hashes_verify_with(oracle: Oracle) -> None:
    go_hash = oracle.render('{{ bcrypt "pw" }}', POD).output
    our_hash = ours('{{ bcrypt "pw" }}', POD).output
    assert go_hash[:7] == our_hash[:7] == b"$2a$10$"
    assert bcrypt_lib.checkpw(b"pw", go_hash) and bcrypt_lib.checkpw(b"pw", our_hash)


def test_certificates_built_by_go_are_accepted_by_ours(oracle: Oracle) -> None:
    """A CA made by sprig signs a certificate in ours (genSignedCert parses Go's PEM)."""
    ca = oracle.render('{{ $ca := genCA "go-ca" 5 }}{{ $ca.Cert | b64enc }} {{ $ca.Key | b64enc }}', POD)
    cert_b64, key_b64 = ca.output.decode().split()
    signed = ours('{{ $c := genSignedCert "leaf" nil nil 1 (buildCustomCert "' + cert_b64 + '" "' + key_b64 + '") }}'
                  '{{ $c.Cert }}', POD)
    assert not signed.failed, signed.describe()
    leaf = x509.load_pem_x509_certificate(signed.output)
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(base64.b64decode(cert_b64)))
