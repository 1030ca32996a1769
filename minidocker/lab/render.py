"""Small helpers the lessons use to show things: commands, traces, namespace tables.

Map of this file:
  localize(text)        test-run paths and names -> the defaults a student sees
                        (/tmp/mdk-nb-x/lib -> /var/lib/minidocker, mdnb0 -> mdk0, ...)
  redact(text)          long ids, PIDs in known places, new namespace inodes, IPs,
                        times -> short placeholders (so traces read well and compare)
  NBVAL_PATTERNS        the same redactions as (name, regex, replacement) for
                        notebooks/nbval_sanitize.cfg (written by notebooks/_build)
  sh(cmd)               run a shell command like a terminal would, print its output
  cleanup(prefix)       remove the lesson's containers/networks/images from a failed run
  explain(trace)        the kernel steps of a `with minidocker.trace()` block, one a line
  md_table(rows)        rows as Markdown in a notebook, aligned text for nbval
  NsTable / ns_table()  host vs container namespace inodes, the differing rows marked
  ns_picture(table)     the same as a matplotlib figure
  architecture_picture  lesson 1: docker's stack next to minidocker's files
  online()              may a lesson use the internet? (reads env and /proc/net/route only)
  registry_context / registry_image / wait_http
                        lessons 4 and 10: a registry:2 image from the host's docker-registry

Nothing here touches the kernel itself: `sh` runs commands a student could
type (and registry_image runs `minidocker build`/`pull` that way); the rest
only formats text.
"""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys

from .. import params

__all__ = ["localize", "redact", "sanitize", "NBVAL_PATTERNS", "nbval_cfg", "sh", "cleanup", "explain",
           "NsTable", "ns_table", "ns_picture", "md_table", "architecture_picture", "online",
           "registry_context", "registry_image", "wait_http"]


# --- text: from a test run's names to a student's, and placeholders --------------

def _swaps() -> list[tuple[str, str]]:
    """(what this process uses, the default) for every knob the test suite moves."""
    out = []
    if os.environ.get(params.ROOT_ENV):
        out += [(params.lib_root(), params.DEFAULT_LIB), (params.run_root(), params.DEFAULT_RUN),
                (os.environ[params.ROOT_ENV], "/var/lib/minidocker/..")]
    for env, default in ((params.CGROUP_PARENT_ENV, params.CGROUP_PARENT),
                         (params.BRIDGE_ENV, params.BRIDGE_NAME),
                         (params.SUBNET_ENV, params.BRIDGE_SUBNET),
                         (params.CHAIN_ENV, params.IPTABLES_CHAIN)):
        v = os.environ.get(env)
        if v and v != default:
            out.append((v, default))
    return out


def localize(text: str) -> str:
    """Replace the test suite's state root, cgroup parent, bridge, subnet and chain
    names by minidocker's defaults, so a lesson's output reads the same in CI and
    in the lab VM. A no-op when the environment sets none of them."""
    for a, b in _swaps():
        if b == params.BRIDGE_SUBNET:
            # 10.206.7.0/24 -> 10.88.0.0/16; the gateway 10.206.7.1 -> 10.88.0.1
            net = a.split("/")[0].rsplit(".", 1)[0]
            text = text.replace(a, b).replace(net + ".1 ", "10.88.0.1 ")
            plen = a.split("/")[1] if "/" in a else "24"
            text = re.sub(re.escape(net) + r"\.(\d+)/" + plen + r"\b", r"10.88.0.\1/16", text)
            text = re.sub(re.escape(net) + r"\.1\b", "10.88.0.1", text)
            text = re.sub(re.escape(net) + r"\.(\d+)\b", r"10.88.0.\1", text)
        elif b == params.IPTABLES_CHAIN:
            text = re.sub(r"\b" + re.escape(a) + r"\b", b, text)
            text = text.replace(a + "-", b + "-")
        else:
            text = text.replace(a, b)
    return text


#: (name, regex, replacement): what differs between two runs of the same lesson.
#: Order matters: full ids before short ones.
NBVAL_PATTERNS: list[tuple[str, str, str]] = [
    ("test_root", r"/tmp/mdk-nb-[A-Za-z0-9_]+/lib", "/var/lib/minidocker"),
    ("test_run", r"/tmp/mdk-nb-[A-Za-z0-9_]+/run", "/run/minidocker"),
    ("id64", r"\b[0-9a-f]{64}\b", "<id>"),
    ("id12", r"\b[0-9a-f]{12}\b", "<id12>"),
    ("short_digest", r"\bsha256:[0-9a-f]{6,}(…|\.\.\.)?", "sha256:<digest>"),
    ("new_ns_inode", r"\b40265(3[2-9]|[4-9]\d)\d{3}\b", "<new-ns-inode>"),
    ("pid_in_proc", r"/proc/\d+/", "/proc/<pid>/"),
    ("pid_nsenter", r"(nsenter (?:-t|--target)) \d+", r"\1 <pid>"),
    ("pid_netns", r"(netns) \d+", r"\1 <pid>"),
    ("pid_echo", r"echo [1-9]\d* >+ (\S*(?:cgroup\.procs|tasks))", r"echo <pid> > \1"),   # not "echo 0": "me"
    ("ls_inode", r"(?m)^\s*\d{4,}(?= /)", "<inode>"),
    ("pid_tasks", r"((?:tasks|cgroup\.procs)\n)\d+(?=\n|$)", r"\1<pid>"),
    ("pid_kill", r"(kill -[A-Z0-9]+) \d+", r"\1 <pid>"),
    ("pid_ps", r"(\s-p|--pid) \d+\b(?![:/])", r"\1 <pid>"),
    ("pid_field", r"(\"Pid\"|\bpid|\bPID|\bPid)([\"=: ]+)\d+", r"\1\2<pid>"),
    ("veth", r"\bmdv[0-9a-f]{8}p?\b", "mdv<hex>"),
    ("user_bridge", r"\bmdk-[0-9a-f]{11}\b", "mdk-<hex>"),
    ("ipv4_private", r"\b10\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", "10.<ip>"),
    ("mac", r"\b02:42(:[0-9a-f]{2}){4}\b", "02:42:<mac>"),
    ("iso_time", r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "<time>"),
    ("ago", r"\b(\d+|About an?|Less than a) (second|minute|hour|day|week|month|year)s?( ago)?", "<duration>"),
    ("size_kb", r"\b\d+(\.\d+)?\s?(kB|KB|MB|B)\b", "<size>"),
    ("hexaddr", r"\b0x[0-9a-f]{6,}\b", "0x<addr>"),
    ("seconds", r"\b\d+\.\d+ ?s\b", "<seconds>"),
    # last: column padding depends on the widest cell ("2 seconds ago" vs "About a minute ago")
    ("columns", r"[ \t]{2,}", "<pad>"),
]


#: what a student still wants to read in a trace: addresses are informative, ids are noise
_KEEP_READABLE = {"ipv4_private", "mac", "columns"}


def redact(text: str, all_patterns: bool = True) -> str:
    """Apply NBVAL_PATTERNS (all_patterns=False keeps IP and MAC addresses readable)."""
    for name, rx, rep in NBVAL_PATTERNS:
        if all_patterns or name not in _KEEP_READABLE:
            text = re.sub(rx, rep, text)
    return text


def sanitize(text: str, all_patterns: bool = False) -> str:
    """localize, then redact ids, PIDs, new inodes, times (addresses too with all_patterns)."""
    return redact(localize(text), all_patterns)


def nbval_cfg() -> str:
    """The text of notebooks/nbval_sanitize.cfg."""
    out = ["# generated by notebooks/_build/build.py from minidocker.lab.render.NBVAL_PATTERNS",
           "# (what differs between two runs of the same lesson: ids, PIDs, inodes, times)", ""]
    for name, rx, rep in NBVAL_PATTERNS:
        # configparser turns \1 into nothing special; nbval passes replace to re.sub as is
        out += [f"[{name}]", f"regex: {rx}", f"replace: {rep}", ""]
    return "\n".join(out)


# --- running commands like in a terminal ------------------------------------------

def _env() -> dict:
    env = os.environ.copy()
    bindir = os.path.dirname(sys.executable)   # the venv's bin: where `minidocker` lives
    if bindir not in env.get("PATH", "").split(":"):
        env["PATH"] = bindir + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    return env


class Result(subprocess.CompletedProcess):
    """A CompletedProcess that shows nothing as a cell's last value (sh() printed it already)."""

    def _ipython_display_(self) -> None:
        pass


def sh(cmd: str, check: bool = True, quiet: bool = False, show: bool = True, raw: bool = False,
       timeout: float = 120, input: str | None = None) -> Result:
    """Run `cmd` with bash, as typed in a terminal; print `$ cmd` and its output.

    check: raise when the exit code is not 0 (a lesson must not go on silently).
    raw:   print the output as is (default: localize() it, so CI and the VM read alike).
    Returns the CompletedProcess (.stdout, .returncode) for the next cell to use.
    """
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=_env(),
                       timeout=timeout, input=input)
    # a pseudo-terminal (exec -t) ends lines with \r\n: show them as a terminal would
    p = Result(p.args, p.returncode, p.stdout.replace("\r\n", "\n"), p.stderr.replace("\r\n", "\n"))
    out = p.stdout + p.stderr
    if show:
        text = out if raw else localize(out)
        if not quiet:
            print(f"$ {cmd if raw else localize(cmd)}")
        if text:
            print(text, end="" if text.endswith("\n") else "\n")
        if p.returncode != 0:
            print(f"(exit code {p.returncode})")
    if check and p.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed with exit code {p.returncode}:\n{out}")
    return p


def cleanup(prefix: str, images: tuple[str, ...] = (), networks: tuple[str, ...] = (),
            volumes: tuple[str, ...] = ()) -> list[str]:
    """Remove what a lesson made: containers named PREFIX*, the given images,
    networks and volumes. Silent when there is nothing (the first run).
    Returns what was removed. Shell: `minidocker rm -f $(minidocker ps -aq --filter name=PREFIX)`."""
    env = _env()
    removed = []
    ps = subprocess.run(["minidocker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                        text=True, env=env)
    for name in ps.stdout.split():
        if name.startswith(prefix):
            subprocess.run(["minidocker", "rm", "-f", name], capture_output=True, env=env)
            removed.append(name)
    for verb, things in (("network rm", networks), ("rmi -f", images), ("volume rm -f", volumes)):
        for t in things:
            r = subprocess.run(["minidocker", *verb.split(), t], capture_output=True, env=env)
            if r.returncode == 0:
                removed.append(t)
    return removed


# --- explain traces -----------------------------------------------------------------

def explain(trace, kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = (), limit: int | None = None,
            calls: bool = False, grep: str | None = None, collapse: int = 4, sides: bool = False) -> None:
    """Print the shell equivalents of a trace's kernel steps, one a line, tagged by kind.

    kinds: only these kinds ("mount", "unshare", "cgroup", ...); skip: leave these out;
    grep: also keep steps whose shell line matches this regex (with kinds: either one);
    calls: also print the syscall/file write as a comment; collapse: a run of more than
    this many steps of one kind shows its first two and a count. Ids and PIDs are shortened
    (<id>, <pid>) so the lines fit on a screen; the real ones are in `trace.steps`.

    sides: print the host's steps first, then the container's (PID 1's): the two
    run at the same time (PID 1 mounts its root while the monitor wires the
    network), so their interleaving differs from run to run; each side alone
    is always in the same order.
    """
    if sides:
        steps = list(trace.steps)
        for title, part in (("# on the host (minidocker, the monitor, the stage process)",
                             [s for s in steps if s.pid != 1]),
                            ("# inside the container (PID 1, before it execs the command)",
                             [s for s in steps if s.pid == 1])):
            print(title)
            explain(type("T", (), {"steps": part})(), kinds, skip, limit, calls, grep, collapse)
        return
    lines, last = [], None
    for s in trace.steps:
        wanted = (not kinds and not grep) or (kinds and s.kind in kinds) or \
            (grep and re.search(grep, s.shell or s.call))
        if not wanted or s.kind in skip:
            continue
        text = sanitize(s.shell or s.call)
        if calls and s.shell:
            text += "    # " + sanitize(s.call)
        line = f"[{s.kind:<8}] {text}"
        if line != last:
            lines.append(line)
        last = line
    if collapse:
        runs, out = [], []
        for line in lines:                      # group consecutive lines of one kind
            kind = line.split("]", 1)[0]
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(line)
            else:
                runs.append((kind, [line]))
        for kind, group in runs:
            if len(group) > collapse:
                out += group[:2] + [f"{kind}] ... and {len(group) - 2} more steps like these"]
            else:
                out += group
        lines = out
    shown = lines if limit is None else lines[:limit]
    print("\n".join(shown))
    if limit is not None and len(lines) > limit:
        print(f"... and {len(lines) - limit} more steps")


class Table:
    """Rows shown as Markdown in a notebook and as aligned text elsewhere (so nbval checks the text)."""

    def __init__(self, rows: list[dict], cols: list[str], headers: list[str]):
        self.rows, self.cols, self.headers = rows, cols, headers

    def _repr_markdown_(self) -> str:
        text = "| " + " | ".join(self.headers) + " |\n|" + "---|" * len(self.cols) + "\n"
        return text + "".join("| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in self.cols)
                              + " |\n" for r in self.rows)

    def __repr__(self) -> str:
        cells = [[str(r.get(c, "")).replace("`", "") for c in self.cols] for r in self.rows]
        widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(self.headers)]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        return "\n".join([fmt.format(*self.headers)] + [fmt.format(*row) for row in cells])


def md_table(rows: list[dict], cols: list[str] | None = None, headers: list[str] | None = None) -> Table:
    """A list of dicts as a table: Markdown in a notebook, aligned text in a terminal/test."""
    cols = cols or list(rows[0].keys())
    return Table(rows, cols, headers or cols)


# --- namespaces: the seed's `ls -l /proc/$$/ns` comparison ---------------------------

class NsTable:
    """Rows of (kind, inode A, inode B) with the ones that differ marked.

    Displays as an HTML table in a notebook (differing rows highlighted) and as
    text elsewhere; `.differ` / `.shared` list the kinds.
    """

    def __init__(self, rows, labels=("host", "container")):
        self.rows = list(rows)           # NsRow from minidocker.kernel.namespaces.compare
        self.labels = labels

    @property
    def differ(self) -> list[str]:
        return [r.kind for r in self.rows if not r.shared]

    @property
    def shared(self) -> list[str]:
        return [r.kind for r in self.rows if r.shared]

    def _verdict(self, r) -> str:
        return "same namespace" if r.shared else "DIFFERENT: isolated"

    def __repr__(self) -> str:
        a, b = self.labels
        w = max(len(a), len(b), 20) + 2
        lines = [f"{'kind':<7} {a:<{w}} {b:<{w}}"]
        for r in self.rows:
            lines.append(f"{r.kind:<7} {r.kind + ':[' + str(r.a) + ']':<{w}} {r.kind + ':[' + str(r.b) + ']':<{w}} "
                         f"{self._verdict(r)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        a, b = self.labels
        body = ""
        for r in self.rows:
            style = ' style="background:#ffe0b3;font-weight:bold"' if not r.shared else ""
            body += (f"<tr{style}><td><code>{r.kind}</code></td><td><code>{r.kind}:[{r.a}]</code></td>"
                     f"<td><code>{r.kind}:[{r.b}]</code></td><td>{html.escape(self._verdict(r))}</td></tr>")
        return (f"<table><tr><th>namespace</th><th>{html.escape(a)}</th><th>{html.escape(b)}</th>"
                f"<th></th></tr>{body}</table>")


def ns_table(pid_a="self", pid_b=None, labels=("host", "container")) -> NsTable:
    """Compare the namespaces of two processes (shell: `ls -l /proc/A/ns /proc/B/ns`)."""
    from ..kernel import namespaces
    return NsTable(namespaces.compare(pid_a, pid_b), labels)


def ns_picture(table: NsTable, title: str | None = None, path: str | None = None):
    """Two columns of boxes, one row per namespace kind: a single wide box when both
    processes share the namespace, two separate orange boxes when the container
    got its own. Returns the matplotlib Figure (saved to `path` when given)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    n = len(table.rows)
    fig, ax = plt.subplots(figsize=(9, 0.55 * n + 1.8), layout="constrained")
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.8, n + 0.4)
    ax.axis("off")
    a, b = table.labels
    ax.text(2.75, n + 0.05, f"{a} process", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(7.75, n + 0.05, f"{b} process", ha="center", va="bottom", fontsize=11, weight="bold")
    for i, r in enumerate(table.rows):
        y = n - 1 - i
        ax.text(0.1, y + 0.4, r.kind, va="center", fontsize=11, family="monospace", weight="bold")
        if r.shared:
            ax.add_patch(FancyBboxPatch((1.2, y + 0.08), 8.6, 0.64, boxstyle="round,pad=0.02",
                                        fc="#dfe8f2", ec="#7f8fa6"))
            ax.text(5.5, y + 0.4, f"{r.kind}:[{r.a}]   one namespace, shared", ha="center", va="center",
                    fontsize=9.5, family="monospace")
        else:
            for x0, ino in ((1.2, r.a), (6.2, r.b)):
                ax.add_patch(FancyBboxPatch((x0, y + 0.08), 3.6, 0.64, boxstyle="round,pad=0.02",
                                            fc="#ffd9a8", ec="#d9822b", lw=1.5))
                ax.text(x0 + 1.8, y + 0.4, f"{r.kind}:[{ino}]", ha="center", va="center",
                        fontsize=9.5, family="monospace")
    ax.text(5, -0.45, f"orange: the container has its own namespace ({len(table.differ)} of {n}: "
            f"{', '.join(table.differ) or 'none'});  blue: shared with the host",
            ha="center", va="center", fontsize=9, style="italic")
    ax.set_title(title or "Same inode = same namespace  (ls -l /proc/PID/ns)", fontsize=12)
    if path:
        fig.savefig(path, dpi=100)
    return fig


# --- lesson 1: docker's layers next to minidocker's files --------------------------

#: (docker component, what it does, the minidocker file that does it)
ARCHITECTURE: list[tuple[str, str, str]] = [
    ("docker CLI (client)", "parses your command, sends it to the daemon", "minidocker/cli.py, commands/*.py"),
    ("dockerd (daemon)", "API, images, networks, volumes, builds", "image/, runtime/network.py, runtime/volumes.py, image/build.py"),
    ("containerd", "image store and container lifecycle", "image/store.py (OCI layout), runtime/lifecycle.py"),
    ("containerd-shim", "stays with one container: its stdio, its exit code", "runtime/monitor.py (one monitor per container)"),
    ("runc (libcontainer)", "the OCI runtime: namespaces, cgroups, mounts, exec", "runtime/init.py + kernel/ (namespaces, cgroups, mounts)"),
    ("Linux kernel", "namespaces, cgroups, overlayfs, netfilter", "the same kernel: minidocker calls it through kernel/libc.py"),
]


def architecture_picture(path: str | None = None):
    """docker's stack (seed 1.3) on the left, minidocker's files on the right, the
    same layer on the same row. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch
    n = len(ARCHITECTURE)
    fig, ax = plt.subplots(figsize=(11, 6.2), layout="constrained")
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.9, n + 0.7)
    ax.axis("off")
    ax.text(2.5, n + 0.25, "Docker (seed 1.3)", ha="center", fontsize=12, weight="bold")
    ax.text(8.2, n + 0.25, "minidocker (this repository)", ha="center", fontsize=12, weight="bold")
    colors = ["#cfe2f3", "#cfe2f3", "#d9ead3", "#fff2cc", "#fce5cd", "#eeeeee"]
    for i, (comp, what, ours) in enumerate(ARCHITECTURE):
        y = n - 1 - i
        for x0, w, title, sub in ((0.3, 4.4, comp, what), (5.6, 5.2, ours, "")):
            ax.add_patch(FancyBboxPatch((x0, y + 0.1), w, 0.7, boxstyle="round,pad=0.03",
                                        fc=colors[i], ec="#555555"))
            ax.text(x0 + w / 2, y + (0.56 if sub else 0.45), title, ha="center", va="center",
                    fontsize=10, weight="bold" if not sub and i == n - 1 else "normal",
                    family="sans-serif" if sub else "monospace")
            if sub:
                ax.text(x0 + w / 2, y + 0.27, sub, ha="center", va="center", fontsize=8.2, style="italic")
        ax.annotate("", xy=(5.55, y + 0.45), xytext=(4.75, y + 0.45),
                    arrowprops=dict(arrowstyle="<->", color="#888888"))
        if i < n - 1:
            ax.annotate("", xy=(2.5, y + 0.1 - 0.28), xytext=(2.5, y + 0.1),
                        arrowprops=dict(arrowstyle="->", color="#333333"))
    ax.text(2.5, -0.55, "REST API on /var/run/docker.sock -> gRPC -> fork/exec runc",
            ha="center", fontsize=8.5, color="#444444")
    ax.text(8.2, -0.55, "no daemon: the CLI does the work, a monitor process stays per container",
            ha="center", fontsize=8.5, color="#444444")
    ax.set_title("Who does what: each row is one job, done by Docker's part (left) and minidocker's file (right)",
                 fontsize=11)
    if path:
        fig.savefig(path, dpi=100)
    return fig


def online() -> bool:
    """True when a lesson may use the internet (Docker Hub): not when MINIDOCKER_OFFLINE=1
    (CI sets it) and not without a default route. Sends no traffic: it reads /proc/net/route."""
    if os.environ.get("MINIDOCKER_OFFLINE", "") not in ("", "0"):
        return False
    try:
        with open("/proc/net/route") as f:
            return any(line.split()[1] == "00000000" for line in f.readlines()[1:] if line.split())
    except OSError:
        return False


# --- lessons 4 and 10: the registry as a container, built offline ----------------

# One definition of the image, in minidocker/image/registry_image.py; the lessons show it.
from ..image import registry_image as _registry_image  # noqa: E402

REGISTRY_CONFIG = _registry_image.CONFIG
REGISTRY_DOCKERFILE = _registry_image.DOCKERFILE


def registry_context(ctx: str, binary: str = _registry_image.REGISTRY_BIN) -> str:
    """Write a build context for a `registry:2` image made from the host's registry binary
    (the Dockerfile above, the binary and the libraries `ldd` names, config.yml). Returns ctx."""
    return _registry_image.write_context(ctx, binary)


def wait_http(url: str, timeout: float = 15.0) -> bool:
    """Poll `url` until it answers (any HTTP status) or `timeout` s pass. Loopback only in the lessons."""
    import time as _t
    import urllib.error
    import urllib.request
    end = _t.monotonic() + timeout
    while _t.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            _t.sleep(0.3)
    return False


def registry_image(tag: str = "registry:2", ctx: str = "/tmp/registry-ctx") -> str | None:
    """Make sure the image `tag` exists, the best way this machine allows; say which.

    1. the host has docker-registry (Debian's package of registry:2): build it offline;
    2. else, with internet (online()): `minidocker pull registry:2`, as the course does;
    3. else None: the caller skips its registry cells (EL9 has no docker-registry package).
    """
    binary = "/usr/bin/docker-registry"
    if os.path.exists(binary):
        registry_context(ctx, binary)
        sh(f"minidocker build -q -t {tag} {ctx}", show=False)
        import shutil as _sh
        _sh.rmtree(ctx, ignore_errors=True)
        return f"built offline from {binary}"
    if online():
        sh(f"minidocker pull registry:2 && minidocker tag registry:2 {tag}", show=False)
        return "pulled from Docker Hub"
    print(f"no registry image possible here: {binary} is missing and the machine is offline. "
          "Install Debian's docker-registry package, or connect to the internet and run this cell again.")
    return None
