"""Property test: whatever a tarball contains, extract_layer writes nothing outside the target,
and either succeeds or raises ImageError (never another exception)."""
import io
import os
import shutil
import tarfile
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from minidocker.errors import ImageError
from minidocker.image import tarsafe

PARTS = ["a", "b", "..", ".", "etc", "passwd", ".wh.a", ".wh..wh..opq", ""]
LINKS = ["/", "/etc", "..", "../..", "../../etc", "a", "a/b", "b/..", ".", "/etc/passwd", "etc/passwd"]

names = s.lists(s.sampled_from(PARTS), min_size=1, max_size=4).map("/".join) | \
    s.sampled_from(["/etc/passwd", "/a", "./a/", "a/../../x"])
entry = s.tuples(s.sampled_from(["file", "dir", "sym", "link", "chr", "fifo"]), names,
                 s.sampled_from(LINKS), s.integers(0, 0o7777))


def build(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for kind, name, link, mode in entries:
            ti = tarfile.TarInfo(name or ".")
            ti.mode, ti.mtime = mode, 1600000000
            data = None
            if kind == "file":
                ti.size, data = 5, io.BytesIO(b"pwned")
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, link
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, link
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 0, mode % 2
            else:
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, data)
    return buf.getvalue()


def snapshot(d, skip):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            if p == skip or p.startswith(skip + "/"):
                continue
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_nlink)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(entry, min_size=1, max_size=8))
def test_nothing_escapes(entries):
    host = tempfile.mkdtemp(prefix="mdimg-prop-")
    try:
        os.makedirs(os.path.join(host, "etc"))
        with open(os.path.join(host, "etc/passwd"), "w") as f:
            f.write("host\n")
        with open(os.path.join(host, "a"), "w") as f:
            f.write("host a\n")
        target = os.path.join(host, "t", "root")
        os.makedirs(target)
        before = snapshot(host, target)
        try:
            tarsafe.extract_layer(io.BytesIO(build(entries)), target)
        except ImageError:
            pass
        # only the parent dir of the target may see an mtime change; nothing else
        after = snapshot(host, target)
        assert {k: v for k, v in after.items() if k != os.path.dirname(target)} == \
            {k: v for k, v in before.items() if k != os.path.dirname(target)}
        assert open(os.path.join(host, "etc/passwd")).read() == "host\n"
    finally:
        shutil.rmtree(host, ignore_errors=True)
