"""``injector certs``: write a CA and a serving certificate so ``injector serve`` can start in one command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dns-name", action="append", required=True, metavar="NAME", dest="dns_names",
                        help="subject alternative name of the serving certificate (repeat; IP addresses allowed), "
                             "e.g. istiod.istio-system.svc")
    parser.add_argument("--out-dir", required=True, type=Path, help="directory for ca.crt, tls.crt and tls.key")
    parser.add_argument("--days", type=int, default=365, help="validity of the serving certificate (default 365)")
    parser.add_argument("--ca-cert-file", type=Path, help="sign with this existing CA instead of a new one")
    parser.add_argument("--ca-key-file", type=Path, help="private key of --ca-cert-file")
    parser.add_argument("--keep-ca-key", action="store_true",
                        help="also write ca.key, to issue rotated certificates from the same CA later")


def run(args: argparse.Namespace) -> int:
    from injector import certs

    if (args.ca_cert_file is None) != (args.ca_key_file is None):
        print("injector certs: --ca-cert-file and --ca-key-file go together", file=sys.stderr)
        return 2
    ca = certs.load_ca(args.ca_cert_file, args.ca_key_file) if args.ca_cert_file else certs.create_ca()
    serving = certs.issue_serving_certificate(ca, args.dns_names, days=args.days)
    for path in certs.write_bundle(args.out_dir, ca, serving, keep_ca_key=args.keep_ca_key):
        print(path)
    return 0
