"""The lab VM's files, checked without a VM: Vagrantfile, scripts, systemd unit.

Map:
  vagrant validate   the Vagrantfile parses and its provisioner paths exist (and a broken one fails)
  shellcheck         every script under vagrant/ is clean
  systemd-analyze    the JupyterLab unit verifies (and a broken one does not)
  cgroup-mode.sh     v1 -> v2 round trip on a copy of /etc/default/grub (the Debian branch)
  lib.sh             put_file reports changed, then ok (what idempotence is built on)

These take a few seconds. The real provisioning run is test_vagrant_provision.py.
Tools come from Debian packages the Makefile installs: vagrant, shellcheck, systemd.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VAGRANT_DIR = REPO / "vagrant"
SCRIPTS = sorted(VAGRANT_DIR.glob("*.sh"))


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (apt-get install {tool}; `make test` installs it)")
    return path


def vagrant(args: list[str], cwd: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run vagrant with its state (.vagrant/, ~/.vagrant.d) in tmp_path, never in the checkout."""
    e = dict(os.environ, VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"), VAGRANT_HOME=str(tmp_path / "home"),
             VAGRANT_CHECKPOINT_DISABLE="1", **env)
    return subprocess.run([need("vagrant"), *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=120)


# --- vagrant validate ---------------------------------------------------------

def test_vagrantfile_validates(tmp_path):
    r = vagrant(["validate", "--ignore-provider"], REPO, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validated successfully" in r.stdout


@pytest.mark.parametrize("env", [
    {"MINIDOCKER_BOX": "bento/almalinux-9", "MINIDOCKER_VM_CPUS": "4",
     "MINIDOCKER_VM_MEMORY": "8192", "MINIDOCKER_LAB_PORT": "18888"},
    {"MINIDOCKER_BOX": "bento/rockylinux-9", "MINIDOCKER_BOX_VERSION": "202502.21.0",
     "MINIDOCKER_SYNC_TYPE": "rsync", "MINIDOCKER_BOX_ARCH": "arm64"},
])
def test_vagrantfile_validates_with_overrides(tmp_path, env):
    r = vagrant(["validate", "--ignore-provider"], REPO, tmp_path, **env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_vagrant_validate_catches_a_missing_provision_script(tmp_path):
    # the check can fail: a Vagrantfile whose script is gone does not validate
    proj = tmp_path / "proj"
    shutil.copytree(VAGRANT_DIR, proj / "vagrant")
    shutil.copy(REPO / "Vagrantfile", proj / "Vagrantfile")
    (proj / "vagrant" / "cgroup-mode.sh").unlink()
    r = vagrant(["validate", "--ignore-provider"], proj, tmp_path)
    assert r.returncode != 0
    assert "cgroup-mode.sh" in r.stdout + r.stderr


def test_vagrantfile_rejects_a_bad_cpu_count(tmp_path):
    r = vagrant(["validate", "--ignore-provider"], REPO, tmp_path, MINIDOCKER_VM_CPUS="two")
    assert r.returncode != 0


def test_vagrantfile_promises():
    text = (REPO / "Vagrantfile").read_text()
    # JupyterLab runs as root inside: only the laptop itself may reach it
    assert 'host_ip: "127.0.0.1"' in text
    assert 'DEFAULT_BOX = "bento/centos-stream-9"' in text
    assert "box_version" in text and "MINIDOCKER_BOX" in text
    # provisioning from files that CI lints, never inline heredocs
    assert "<<" not in text and "inline:" not in text
    for path in ("vagrant/provision.sh", "vagrant/cgroup-mode.sh"):
        assert f'"{path}"' in text and (REPO / path).exists()


# --- shellcheck -----------------------------------------------------------------

def test_every_script_is_shellcheck_clean():
    shellcheck = need("shellcheck")
    assert len(SCRIPTS) >= 6, SCRIPTS  # provision, lib, lab-start, lab-url, cgroup-mode, install-el9
    r = subprocess.run([shellcheck, "-x", *map(str, SCRIPTS)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shellcheck_would_catch_a_mistake(tmp_path):
    shellcheck = need("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $DIR/*\n")
    assert subprocess.run([shellcheck, str(bad)], capture_output=True).returncode != 0


# --- systemd-analyze verify ---------------------------------------------------

def verify_unit(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify on a copy whose ExecStart points at the repo's start script.

    The installed path (/usr/local/libexec/minidocker/lab-start) exists only in a
    provisioned VM; verify checks that ExecStart is executable, so here it gets
    the same script at its repo path. The provisioning test verifies the
    installed unit at its real path.
    """
    tool = need("systemd-analyze")
    unit = tmp_path / "minidocker-lab.service"
    unit.write_text("\n".join(
        f"ExecStart={VAGRANT_DIR / 'lab-start.sh'}" if ln.startswith("ExecStart=") else ln
        for ln in unit_text.splitlines()) + "\n")
    return subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)


def unit_problems(r: subprocess.CompletedProcess) -> list[str]:
    # verify only warns (exit 0) about unknown keys or bad values: any line
    # about our unit is a problem
    return [ln for ln in (r.stdout + r.stderr).splitlines() if "minidocker-lab" in ln]


def test_jupyterlab_unit_verifies(tmp_path):
    r = verify_unit((VAGRANT_DIR / "minidocker-lab.service").read_text(), tmp_path)
    assert r.returncode == 0 and not unit_problems(r), r.stdout + r.stderr


def test_unit_verify_would_catch_a_mistake(tmp_path):
    text = (VAGRANT_DIR / "minidocker-lab.service").read_text().replace("Restart=on-failure", "Restart=sometimes")
    assert unit_problems(verify_unit(text, tmp_path))


def test_unit_runs_jupyterlab_as_root_at_boot():
    text = (VAGRANT_DIR / "minidocker-lab.service").read_text()
    assert "User=root" in text and "WantedBy=multi-user.target" in text
    assert "ExecStart=/usr/local/libexec/minidocker/lab-start" in text
    assert "Restart=on-failure" in text  # the synced folder may be mounted after boot


# --- cgroup-mode.sh (Debian branch; EL9's grubby branch runs only on EL9) ----------

def cgroup_mode(arg: str, grub: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MINIDOCKER_GRUB_DEFAULTS=str(grub), MINIDOCKER_UPDATE_GRUB="true")
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no grubby on Debian: the grub-defaults branch
    return subprocess.run(["bash", str(VAGRANT_DIR / "cgroup-mode.sh"), arg], env=env,
                          capture_output=True, text=True, timeout=30)


def test_cgroup_mode_round_trip(tmp_path):
    if shutil.which("grubby"):
        pytest.skip("grubby is installed: the script would edit this machine's real boot entries")
    grub = tmp_path / "grub"
    original = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
    grub.write_text(original)

    r = cgroup_mode("v1", grub)
    assert r.returncode == 0 and "[changed]" in r.stdout, r.stderr
    assert 'GRUB_CMDLINE_LINUX="console=ttyS0 systemd.unified_cgroup_hierarchy=0"' in grub.read_text()
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in grub.read_text()

    r = cgroup_mode("v1", grub)  # idempotent
    assert r.returncode == 0 and "[ok]" in r.stdout
    assert grub.read_text().count("unified_cgroup_hierarchy") == 1
    assert "next boot: cgroup v1" in cgroup_mode("status", grub).stdout

    r = cgroup_mode("v2", grub)
    assert r.returncode == 0 and "[changed]" in r.stdout
    assert grub.read_text() == original


def test_cgroup_mode_refuses_unknown_mode(tmp_path):
    grub = tmp_path / "grub"
    grub.write_text('GRUB_CMDLINE_LINUX=""\n')
    r = cgroup_mode("v3", grub)
    assert r.returncode == 2 and "usage" in r.stderr


# --- lib.sh -------------------------------------------------------------------

def test_put_file_reports_changed_then_ok(tmp_path):
    dest = tmp_path / "etc" / "x.conf"
    script = f'. {VAGRANT_DIR}/lib.sh; printf "a=1\\n" | put_file 0640 {dest}; echo rc=$?; tally'
    first = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    second = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert "[changed]" in first.stdout and "rc=0" in first.stdout
    assert "[ok]" in second.stdout and "rc=1" in second.stdout and "0 changed" in second.stdout
    assert dest.read_text() == "a=1\n" and oct(dest.stat().st_mode & 0o777) == "0o640"
    dest.chmod(0o644)  # a wrong mode alone is a change too
    third = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert "[changed]" in third.stdout and oct(dest.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("os_release,family", [
    ('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n', "el"),            # CentOS Stream 9
    ('ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.5"\n', "el"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.5"\n', "el"),
    ('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n', "el"),
    ('ID=debian\nVERSION_ID="12"\n', "debian"),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "debian"),
    ('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n', None),             # end-of-life
    ('ID=fedora\nVERSION_ID=41\n', None),
    ('ID=arch\n', None),
])
def test_os_family_from_os_release(tmp_path, os_release, family):
    f = tmp_path / "os-release"
    f.write_text(os_release)
    r = subprocess.run(["bash", "-c", f". {VAGRANT_DIR}/lib.sh; os_family"], capture_output=True, text=True,
                       env=dict(os.environ, MINIDOCKER_OS_RELEASE=str(f)))
    if family:
        assert r.returncode == 0 and r.stdout == family + "\n", r.stderr
    else:
        assert r.returncode != 0 and "[failed]" in r.stderr and "hint:" in r.stderr


def test_missing_packages_lists_only_missing_ones():
    if not shutil.which("dpkg-query"):
        pytest.skip("the Debian branch needs dpkg-query")
    r = subprocess.run(["bash", "-c", f". {VAGRANT_DIR}/lib.sh; missing_packages debian bash no-such-package-md9"],
                       capture_output=True, text=True)
    assert r.stdout == "no-such-package-md9\n"
