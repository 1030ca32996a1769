"""The seed's registry workflow end to end (1.5.5), all with minidocker:

    build registry:2 offline from Debian's docker-registry binary
    minidocker run -d -p PORT:5000 --restart always --name registry registry:2
    minidocker tag busybox localhost:PORT/busybox:latest
    minidocker push localhost:PORT/busybox:latest
    curl -X GET localhost:PORT/v2/_catalog          -> {"repositories":["busybox"]}
    curl -X GET localhost:PORT/v2/busybox/tags/list -> {"name":"busybox","tags":["latest"]}
and then: pull it back into an empty store and run it.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.helpers import md
from tests.registry_server import free_port

pytestmark = pytest.mark.usefixtures("root_only")


def _curl(url: str) -> str:
    return subprocess.run(["curl", "-s", "-m", "3", "-X", "GET", url], capture_output=True, text=True).stdout


def test_seed_registry_workflow(md_root, tmp_path, host_clean):
    from minidocker.image.registry_image import write_context
    ctx = write_context(str(tmp_path / "regctx"))
    b = md("build", "-t", "mdk6-registry:2", ctx, timeout=120)
    assert b.returncode == 0 and "Successfully tagged mdk6-registry:2" in b.stdout, b.stderr
    port = free_port()
    r = md("run", "-d", "-p", f"{port}:5000", "--restart", "always", "--name", "mdk6-seedreg", "mdk6-registry:2")
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _curl(f"http://127.0.0.1:{port}/v2/_catalog") == "":
            time.sleep(0.2)
        assert json.loads(_curl(f"http://127.0.0.1:{port}/v2/_catalog")) == {"repositories": []}
        assert md("tag", "busybox", f"localhost:{port}/busybox:latest").returncode == 0
        p = md("push", f"localhost:{port}/busybox:latest")
        assert p.returncode == 0 and "latest: digest: sha256:" in p.stdout, p.stderr
        assert json.loads(_curl(f"http://localhost:{port}/v2/_catalog")) == {"repositories": ["busybox"]}
        assert json.loads(_curl(f"http://localhost:{port}/v2/busybox/tags/list")) == \
            {"name": "busybox", "tags": ["latest"]}
        # pull into an empty store (another MINIDOCKER_ROOT) and run what came back
        other = {"MINIDOCKER_ROOT": str(tmp_path / "other-root")}
        try:
            pl = md("pull", f"localhost:{port}/busybox:latest", env=other)
            assert pl.returncode == 0 and "Pull complete" in pl.stdout, pl.stderr
            run = md("run", "--rm", "--network", "none", f"localhost:{port}/busybox", "echo", "pulled and ran",
                     env=other)
            assert run.stdout == "pulled and ran\n", run.stderr
        finally:
            md("system", "prune", "-f", env=other)
    finally:
        md("rm", "-f", "mdk6-seedreg")
