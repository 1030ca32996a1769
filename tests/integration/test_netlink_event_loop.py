"""kernel.netlink works inside a running asyncio loop (a Jupyter kernel has one)."""
import asyncio

from minidocker.kernel import netlink


def test_netlink_calls_work_while_an_event_loop_runs():
    async def in_kernel():
        return netlink.link_exists("lo"), [link["name"] for link in netlink.list_links()]

    exists, names = asyncio.run(in_kernel())
    assert exists and "lo" in names
