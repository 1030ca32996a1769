"""bench/run.py's scratch file system: a fresh journaled ext4 on a loop device,
and nothing left of it afterwards (no mount, no loop device, no image file)."""
from __future__ import annotations

import os
import subprocess

import pytest

from bench import run as bench_run

pytestmark = pytest.mark.usefixtures("root_only")


def _loops_of(img: str) -> str:
    return subprocess.run(["losetup", "-j", img], capture_output=True, text=True).stdout


def test_scratch_fs_is_a_fresh_journaled_ext4_and_leaves_nothing(tmp_path):
    mnt, note, unmount = bench_run._scratch_fs(str(tmp_path), gb=1)
    if mnt == str(tmp_path):
        pytest.skip(f"no loop device here: {note}")
    try:
        assert os.path.ismount(mnt) and "journal" in note
        fields = next(line.split() for line in open("/proc/mounts") if line.split()[1] == mnt)
        assert fields[2] == "ext4"
        dev = os.path.basename(os.path.realpath(fields[0]))
        with open(f"/sys/fs/ext4/{dev}/journal_task") as f:
            assert f.read().strip() != "<none>"          # a journal: no recently_deleted() scans
        assert os.listdir(mnt) == ["lost+found"]
        img = [p for p in os.listdir(tmp_path) if p.endswith(".ext4")]
        assert len(img) == 1 and _loops_of(str(tmp_path / img[0]))
        other = bench_run._scratch_fs(str(tmp_path), gb=1)  # a second one never touches the first
        try:
            assert other[0] != mnt and os.path.ismount(other[0])
        finally:
            other[2]()
        assert os.path.ismount(mnt)
    finally:
        unmount()
    assert not os.path.ismount(mnt)
    assert os.listdir(tmp_path) == []                     # image file and mount point gone
    assert all(str(tmp_path) not in line for line in open("/proc/mounts"))
