"""vagrant/provision.sh for real, twice, on a clean Debian 12 root (issue 9).

The "VM" is tests/vm_provision/sandbox.py: a debootstrap'd bookworm root under a
fresh overlay, in its own mount/pid/uts/ipc namespaces and a sealed network
namespace whose only way out is a proxy to Debian's mirror and PyPI. systemd is
not PID 1 there, so provision.sh installs and enables the unit and starts
JupyterLab itself. Map of the checks:

  first run      succeeds, changes things, prints the URL with the token
  second run     as Vagrant runs it (the script alone in /tmp): succeeds, changes nothing
  jupyterlab     answers on 127.0.0.1:8888 inside with the token, refuses without it
  settings       ip_forward, overlay at boot, state dir, root-only token, unit enabled + verified
  minidocker     `minidocker run --rm busybox echo hi` inside, and a few of the project's
                 integration tests (MINIDOCKER_TEST_VM_TESTS picks others)

Slow (a few minutes; see docs/lab-vm.md), so it runs only when asked:
MINIDOCKER_TEST_VM_PROVISION=1, or when the debootstrap cache already exists
(/var/cache/minidocker-test/bookworm-root, made by the first asked-for run).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.vm_provision import sandbox

pytestmark = [pytest.mark.slow, pytest.mark.root]

#: the project's tests run inside the provisioned root (paths relative to the project)
DEFAULT_INNER_TESTS = ("tests/integration/test_overlay.py "
                       "tests/integration/test_cgroups_cli.py "
                       "tests/integration/test_runtime.py::test_pid1_hostname_and_ps "
                       "tests/integration/test_runtime.py::test_exit_codes "
                       "tests/integration/test_runtime.py::test_detached_lifecycle_logs_inspect_exec_stop")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts, debootstrap)"
    for tool in ("unshare", "nsenter", "debootstrap", "ip"):
        if not shutil.which(tool):
            return f"{tool} is not installed (`make test` installs it)"
    if os.environ.get("MINIDOCKER_TEST_VM_PROVISION") != "1" and not sandbox.cache_ready():
        return ("slow (minutes): set MINIDOCKER_TEST_VM_PROVISION=1 to run it; the first run makes "
                f"the debootstrap cache {sandbox.CACHE}, whose presence then enables it")
    return None


@pytest.fixture(scope="module")
def vm():
    why = _why_not()
    if why:
        pytest.skip(why)
    t_start = time.monotonic()
    machine = sandbox.LabVM()
    machine.start()
    scratch = machine.scratch
    try:
        # a fresh namespace inherits the host's ip_forward: start from 0 so the
        # test sees provisioning turn it on
        subprocess.run(["nsenter", f"--net=/proc/{machine.init_pid}/ns/net",
                        "sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)
        t0 = time.monotonic()
        machine.first = machine.run("bash /vagrant/vagrant/provision.sh", timeout=1500)
        t1 = time.monotonic()
        # the second run as `vagrant provision` does it: the script alone, uploaded
        # to /tmp, with the Vagrantfile's environment (it finds lib.sh in /vagrant)
        machine.second = machine.run(
            "cp /vagrant/vagrant/provision.sh /tmp/vagrant-shell && chmod +x /tmp/vagrant-shell && "
            "MINIDOCKER_SRC=/vagrant MINIDOCKER_LAB_PORT=8888 MINIDOCKER_LAB_HOST_PORT=8888 "
            "/tmp/vagrant-shell", timeout=600) if machine.first.returncode == 0 else None
        t2 = time.monotonic()
        print(f"\n[vm9] start {t0 - t_start:.0f}s, first run {t1 - t0:.0f}s, second run {t2 - t1:.0f}s")
        yield machine
    finally:
        t3 = time.monotonic()
        machine.stop()
        print(f"[vm9] teardown {time.monotonic() - t3:.0f}s")
        assert not machine.mounts_left_on_host(scratch)
        assert not scratch.exists()


def tally(out: str) -> tuple[int, int]:
    m = re.search(r"^provision: (\d+) changed, (\d+) ok", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def token(vm) -> str:
    return vm.run("cat /etc/minidocker/lab-token", check=True).stdout.strip()


def test_first_run_provisions(vm):
    r = vm.first
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    changed, _ = tally(r.stdout)
    assert changed >= 10, r.stdout
    assert "[changed] JupyterLab started without systemd" in r.stdout  # no systemd as PID 1 here
    assert f"http://127.0.0.1:8888/lab?token={token(vm)}" in r.stdout


def test_second_run_changes_nothing(vm):
    assert vm.second is not None, "the first run failed"
    r = vm.second
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    changed, ok = tally(r.stdout)
    assert changed == 0, [ln for ln in r.stdout.splitlines() if ln.startswith("[changed]")]
    assert ok >= 15
    assert "JupyterLab running without systemd" in r.stdout  # the same process, not a new one


def test_jupyterlab_answers_with_the_token_only(vm):
    t = token(vm)
    r = vm.run(f"curl -s -o /dev/null -w '%{{http_code}}' 'http://127.0.0.1:8888/api/status?token={t}'")
    assert r.stdout == "200", r.stderr
    r = vm.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8888/api/status")
    assert r.stdout == "403"
    # it serves the course's notebooks
    r = vm.run(f"curl -s 'http://127.0.0.1:8888/api/contents?token={t}'")
    assert '"path"' in r.stdout and '"type": "directory"' in r.stdout.replace('":"', '": "')


def test_url_helper_prints_the_url_again(vm):
    r = vm.run("minidocker-lab-url")
    assert r.returncode == 0 and r.stdout.strip() == f"JupyterLab: http://127.0.0.1:8888/lab?token={token(vm)}"


def test_kernel_state_and_service_settings(vm):
    r = vm.run("cat /proc/sys/net/ipv4/ip_forward /etc/modules-load.d/minidocker.conf; "
               "stat -c %a /etc/minidocker/lab-token; test -d /var/lib/minidocker && echo state-ok; "
               "systemctl is-enabled minidocker-lab.service; "
               "systemd-analyze verify /etc/systemd/system/minidocker-lab.service 2>&1; echo verify=$?")
    lines = r.stdout.splitlines()
    assert lines[:6] == ["1", "overlay", "600", "state-ok", "enabled", "verify=0"], r.stdout
    # JupyterLab was started by the installed start script, as root, in the notebooks folder
    r = vm.run("pid=$(cat /run/minidocker-lab.pid); tr '\\0' ' ' </proc/$pid/cmdline; echo; "
               "readlink /proc/$pid/cwd; stat -c %U /proc/$pid")
    cmd, cwd, user = r.stdout.splitlines()
    assert "--allow-root" in cmd and "--port=8888" in cmd and "token" not in cmd
    assert cwd == "/vagrant/notebooks" and user == "root"


def test_minidocker_runs_busybox_inside(vm):
    if vm.run("minidocker run --help").returncode != 0:
        pytest.skip("this version of minidocker has no `run` command yet")
    r = vm.run("minidocker run --rm --network none busybox echo hi")
    assert r.returncode == 0 and r.stdout == "hi\n", r.stderr


def test_project_integration_tests_pass_inside(vm):
    wanted = os.environ.get("MINIDOCKER_TEST_VM_TESTS", DEFAULT_INNER_TESTS).split()
    repo = Path(__file__).resolve().parents[2]
    present = [t for t in wanted if (repo / t.split("::")[0]).exists()]
    if not present:
        pytest.skip(f"none of {wanted} exist in this checkout")
    r = vm.run(f"cd /vagrant && MINIDOCKER_CGROUP_PARENT=minidocker-test-vm9-{os.getpid()} "
               f"/opt/minidocker/venv/bin/python -m pytest -q -p no:cacheprovider -m 'not slow' "
               f"{' '.join(present)}", timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\d+ passed", r.stdout), r.stdout


def test_provisioning_needed_only_the_registries(vm):
    # the proxy refuses (and logs) any host but Debian's mirror and PyPI
    assert vm.proxy_log is not None
    refused = [ln for ln in vm.proxy_log.read_text().splitlines() if "refused" in ln]
    assert not refused, refused
