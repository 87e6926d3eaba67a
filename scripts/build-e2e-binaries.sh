#!/usr/bin/env bash
# Pre-build the e2e control plane (kube-apiserver, etcd, kubectl) and the deploy/ tests' peers (helm, promtool, the
# Certificate and PrometheusRule CRDs) into ~/.cache/injector-e2e (or $INJECTOR_E2E_CACHE).
#
# Why a script: CI should pay for (and report) the one-time build before pytest starts, and a fresh machine may
# have no usable Go: Debian bookworm's golang-go is 1.19, kube-apiserver 1.34 needs >= 1.24. In that case the
# official toolchain is fetched as the Go module golang.org/toolchain from the Go module proxy (the same source
# `GOTOOLCHAIN=auto` uses) and unpacked into the cache.
#
# Usage: scripts/build-e2e-binaries.sh [python]     (python defaults to .venv/bin/python, then python3)
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${1:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
CACHE="${INJECTOR_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/injector-e2e}"
TOOLCHAIN_VERSION="${INJECTOR_E2E_GO:-1.24.13}"

go_ok() {  # $1 = go binary; true when it is >= 1.24
  local v
  v="$("$1" env GOVERSION 2>/dev/null | sed -E 's/^go([0-9]+)\.([0-9]+).*/\1 \2/')" || return 1
  [ -n "$v" ] && set -- $v && { [ "$1" -gt 1 ] || [ "$2" -ge 24 ]; }
}

GO_BIN=""
for candidate in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go "$CACHE/go/bin/go"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && GOTOOLCHAIN=local go_ok "$candidate"; then
    GO_BIN="$candidate"; break
  fi
done

if [ -z "$GO_BIN" ]; then
  echo "no Go >= 1.24 found; fetching golang.org/toolchain go${TOOLCHAIN_VERSION} from the Go module proxy" >&2
  mkdir -p "$CACHE"
  "$PY" - "$CACHE" "$TOOLCHAIN_VERSION" <<'PYEOF'
import io, os, stat, sys, urllib.request, zipfile
cache, version = sys.argv[1], sys.argv[2]
proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].rstrip("/")
if proxy in ("direct", "off"):
    proxy = "https://proxy.golang.org"
url = f"{proxy}/golang.org/toolchain/@v/v0.0.1-go{version}.linux-amd64.zip"
data = urllib.request.urlopen(url, timeout=300).read()
prefix = f"golang.org/toolchain@v0.0.1-go{version}.linux-amd64/"
target = os.path.join(cache, "go")
with zipfile.ZipFile(io.BytesIO(data)) as zf:
    for info in zf.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        dest = os.path.join(target, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as out:
            out.write(zf.read(info))
        # Module zips carry no permission bits; the toolchain's programs live in bin/ and pkg/tool/.
        if rel.startswith("bin/") or rel.startswith("pkg/tool/"):
            os.chmod(dest, os.stat(dest).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
print(target)
PYEOF
  GO_BIN="$CACHE/go/bin/go"
fi

echo "using $GO_BIN ($(GOTOOLCHAIN=local "$GO_BIN" env GOVERSION))" >&2
start=$(date +%s)
GO="$GO_BIN" "$PY" tests/e2e/controlplane.py build
GO="$GO_BIN" "$PY" tests/e2e/deploytools.py build
echo "control plane binaries and deploy tools ready in $(( $(date +%s) - start ))s" >&2
