"""kernel.netlink works inside a running asyncio loop (a Jupyter kernel has one).

pyroute2 ran its own asyncio loop and failed inside Jupyter's, so netlink.py
used to hop to a worker thread. Our rtnetlink socket (kernel/rtnl.py) is a
plain blocking socket: the calls run right here, in the loop's own thread,
and these tests fail if a thread (or asyncio) sneaks back in.
"""
import asyncio
import subprocess
import sys
import threading

import pytest

from minidocker.kernel import netlink
from tests.helpers import REPO
from tests.integration.netkit import Sandbox, ip_json

pytestmark = pytest.mark.usefixtures("root_only")


def test_netlink_calls_work_while_an_event_loop_runs():
    async def in_kernel():
        return netlink.link_exists("lo"), [link["name"] for link in netlink.list_links()]

    exists, names = asyncio.run(in_kernel())
    assert exists and "lo" in names


def test_inside_a_running_loop_no_worker_thread_is_started(monkeypatch):
    def no_threads(self):
        raise AssertionError(f"netlink started a thread: {self!r}")
    monkeypatch.setattr(threading.Thread, "start", no_threads)      # a ThreadPoolExecutor would hit this

    async def configure(pid: int):
        loop_thread = threading.get_ident()
        with netlink.inside(pid):                                   # kept open across the steps
            netlink.link_up("lo", pid)
            addrs = netlink.addresses(pid)
        return loop_thread, addrs

    with Sandbox() as box:
        loop_thread, addrs = asyncio.run(configure(box.pid))
        assert loop_thread == threading.get_ident()                 # asyncio.run: the loop ran here
        assert addrs == [("lo", "127.0.0.1/8")]
        assert "UP" in ip_json("link", "show", "dev", "lo", pid=box.pid)[0]["flags"]


def test_importing_netlink_brings_no_asyncio_threads_or_pyroute2():
    code = ("import sys\nfrom minidocker.kernel import netlink\nnetlink.list_links()\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('asyncio', 'concurrent', 'threading', 'pyroute2'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ""
