"""The server process builds, vets and ships revision snapshots but never renders: Jinja, the function map and the
template translator must stay out of it (about 15 MB per server), and only the render side loads them."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RENDER_ONLY = ("jinja2", "workers.templates.funcs", "workers.templates.jinja", "workers.templates.gotemplate",
               "workers.render")

GO_CONFIG = textwrap.dedent("""\
    policy: enabled
    templates:
      sidecar: |
        spec:
          containers:
          - name: istio-proxy
            image: {{ .Values.global.proxy.image }}
    """)


def _loaded_after(code: str) -> set[str]:
    """Which render-only modules a fresh interpreter holds after running ``code``."""
    probe = code + textwrap.dedent(f"""
        import sys
        print(",".join(m for m in {RENDER_ONLY!r} if m in sys.modules))
        """)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True)
    return {name for name in out.stdout.strip().split(",") if name}


def test_server_side_building_and_shipping_a_snapshot_loads_no_render_module() -> None:
    loaded = _loaded_after(textwrap.dedent(f"""
        import dataclasses, pickle
        import injector.cmd_serve, injector.app
        from injector.app import ServerOptions, create_app, _default_build
        create_app(ServerOptions(workers=1))
        for config_text in (None, {GO_CONFIG!r}):
            snapshot = _default_build(config_text, None, None, revision="default", generation=1)
            shipped = dataclasses.replace(snapshot, compiled_code=b"code from the sandbox")
            pickle.loads(pickle.dumps(shipped))  # what the sandbox answers and the pool broadcasts
        """))
    assert loaded == set()


def test_the_render_side_does_load_them() -> None:
    """The probe above can see these modules: the render path imports every one of them."""
    loaded = _loaded_after(textwrap.dedent(f"""
        from workers.config.snapshot import build_revision_config
        build_revision_config({GO_CONFIG!r}, None, None).templates()
        import workers.render
        """))
    assert loaded == set(RENDER_ONLY)
