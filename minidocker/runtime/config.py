"""Container configuration as plain data (frozen data classes), separate from actions.

`ContainerConfig` holds everything `minidocker run` was asked for, already
validated; the runtime only reads it. Because it is plain data it can be
saved as JSON (`to_dict`/`from_dict`) and turned into an OCI runtime
`config.json` for runc (see `oci.py`, later).

Also here: the small parsers for run's flags whose rules are docker's
(`-e`, `--env-file`, `-v`, `--tmpfs`, `--restart`) and the CMD/ENTRYPOINT
rule that decides what PID 1 runs.
"""
from __future__ import annotations

import os

from .. import plaindata
from ..errors import UsageError
from ..plaindata import dataclass, field
from ..state import valid_name


@dataclass(frozen=True)
class Mount:
    """One -v / --tmpfs: kind is "bind", "volume" or "tmpfs"."""
    kind: str
    source: str          # host path, volume name, or "" for tmpfs
    target: str          # absolute path inside the container
    readonly: bool = False
    options: str = ""    # tmpfs options, e.g. "size=64m"


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"             # no | on-failure | always | unless-stopped
    maximum_retry_count: int = 0  # on-failure:N

    def should_restart(self, exit_code: int, restarts: int, stop_requested: bool) -> bool:
        """docker's rule: a `stop` always wins; on-failure only for non-zero exits."""
        if stop_requested or self.name == "no":
            return False
        if self.name == "on-failure":
            return exit_code != 0 and (self.maximum_retry_count == 0 or restarts < self.maximum_retry_count)
        return True  # always, unless-stopped


@dataclass(frozen=True)
class ContainerConfig:
    image: str                              # what the user typed, e.g. "busybox"
    image_id: str = ""                      # sha256:... resolved at create time
    argv: tuple[str, ...] = ()              # the effective command PID 1 runs
    cmd: tuple[str, ...] = ()               # Config.Cmd as docker reports it
    entrypoint: tuple[str, ...] = ()        # Config.Entrypoint
    env: tuple[str, ...] = ()               # "K=V", image env first then -e
    workdir: str = "/"
    hostname: str = ""
    user: str = ""                          # "uid[:gid]" or a name from /etc/passwd
    tty: bool = False                       # -t
    interactive: bool = False               # -i
    detach: bool = False                    # -d
    auto_remove: bool = False               # --rm
    network: str = "bridge"                 # none | host | bridge | container:NAME | <user network>
    network_aliases: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()             # -p specs as typed
    publish_all: bool = False               # -P
    exposed_ports: tuple[str, ...] = ()     # from the image: "80/tcp"
    mounts: tuple[Mount, ...] = ()
    read_only: bool = False                 # --read-only
    restart: RestartPolicy = RestartPolicy()
    resources: dict[str, Any] = field(default_factory=dict)   # cgroups.Resources as a dict
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    stop_timeout: int | None = None
    rootfs: str = ""                        # an OCI bundle's rootfs, used as is (no image layers)
    security_opt: tuple[str, ...] = ()      # --security-opt: seccomp=unconfined, no-new-privileges[=false]

    def to_dict(self) -> dict[str, Any]:
        return plaindata.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ContainerConfig":
        d = dict(d)
        known = {f.name for f in plaindata.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["mounts"] = tuple(Mount(**m) for m in d.get("mounts", ()))
        d["restart"] = RestartPolicy(**d.get("restart", {}))
        for k in ("argv", "cmd", "entrypoint", "env", "network_aliases", "ports",
                  "exposed_ports", "cap_add", "cap_drop", "security_opt"):
            if k in d and d[k] is not None:
                d[k] = tuple(d[k])
        return cls(**d)


# --- flag parsers (docker's rules) ------------------------------------------

def effective_command(entrypoint: list[str] | None, cmd: list[str] | None,
                      run_args: list[str] | None = None,
                      entrypoint_override: str | None = None) -> list[str]:
    """The argv a container runs, from the image's Entrypoint/Cmd and `run`'s arguments.

    The image config already stores shell forms as ["/bin/sh", "-c", "..."],
    so docker's documented table reduces to "Entrypoint + (run args or Cmd)":

                        | no ENTRYPOINT        | ENTRYPOINT a b (shell)  | ENTRYPOINT ["a","b"]
      no CMD            | error                | /bin/sh -c "a b"        | a b
      CMD ["c","d"]     | c d                  | /bin/sh -c "a b" c d    | a b c d
      CMD c d (shell)   | /bin/sh -c "c d"     | /bin/sh -c "a b" /bin/sh -c "c d" | a b /bin/sh -c "c d"

    In the shell-ENTRYPOINT column the extra words become the shell's $0 $1 ...,
    which the command string ignores: that is why docker's table shows just
    `/bin/sh -c a b` there. `run IMAGE x y` replaces CMD with x y.
    Any `--entrypoint` drops the image's CMD (docker's reference: "passing
    --entrypoint will clear out any default command"); `--entrypoint ""`
    removes ENTRYPOINT too, so a command must follow the image name.
    """
    run_args = list(run_args or [])
    if entrypoint_override is None:
        ep = list(entrypoint or [])
        args = run_args or list(cmd or [])
    else:
        ep, args = ([entrypoint_override] if entrypoint_override else []), run_args
    argv = ep + args
    if not argv:
        raise UsageError("no command specified: the image has no CMD or ENTRYPOINT",
                         "give a command after the image name, e.g. 'run IMAGE sh'")
    return argv


def parse_env(pairs: list[str], env_files: list[str], base: list[str]) -> list[str]:
    """Merge image env, --env-file lines and -e flags (later wins), keeping order.

    `-e NAME` without `=` copies NAME from our own environment, like docker.
    """
    merged: dict[str, str] = {}
    for item in base:
        k, _, v = item.partition("=")
        merged[k] = v
    lines: list[str] = []
    for path in env_files:
        try:
            with open(path, encoding="utf-8") as f:
                lines += [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            raise UsageError(f"--env-file {path}: {e.strerror}", hint="give a readable file of KEY=VALUE lines") from None
    for item in lines + list(pairs):
        k, eq, v = item.partition("=")
        if not k or " " in k:
            raise UsageError(f"invalid environment variable {item!r}", hint="use -e KEY=VALUE")
        if not eq:
            if k not in os.environ:
                continue
            v = os.environ[k]
        merged[k] = v
    return [f"{k}={v}" for k, v in merged.items()]


def parse_volume(spec: str) -> Mount:
    """-v SRC:DST[:ro|rw]. SRC starting with / is a bind mount, else a named volume."""
    parts = spec.split(":")
    if len(parts) == 1:
        raise UsageError(f"invalid volume spec {spec!r}: anonymous volumes are not supported",
                         hint="use -v NAME:/path or -v /host/path:/path")
    if len(parts) > 3:
        raise UsageError(f"invalid volume spec {spec!r}", hint="use -v SRC:DST[:ro]")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise UsageError(f"invalid mode {mode!r} in volume spec {spec!r}", hint="use :ro or :rw")
    if not dst.startswith("/"):
        raise UsageError(f"invalid volume spec {spec!r}: the container path {dst!r} is not absolute",
                         hint="write the path inside the container as /path")
    if src.startswith("/"):
        if not os.path.exists(src):
            # docker creates missing bind sources; we do too, but say so in inspect
            os.makedirs(src, exist_ok=True)
        return Mount("bind", os.path.realpath(src), os.path.normpath(dst), mode == "ro")
    if not valid_name(src):
        raise UsageError(f"invalid volume name {src!r}",
                         hint="volume names use [a-zA-Z0-9][a-zA-Z0-9_.-]; host paths must be absolute")
    return Mount("volume", src, os.path.normpath(dst), mode == "ro")


def parse_tmpfs(spec: str) -> Mount:
    """--tmpfs /path[:size=64m,mode=1777]"""
    path, _, opts = spec.partition(":")
    if not path.startswith("/"):
        raise UsageError(f"invalid --tmpfs {spec!r}: path must be absolute", hint="use --tmpfs /path")
    return Mount("tmpfs", "", os.path.normpath(path), False, opts)


def parse_restart(spec: str) -> RestartPolicy:
    """--restart no | always | unless-stopped | on-failure[:N]"""
    name, _, n = spec.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise UsageError(f"invalid restart policy {spec!r}",
                         hint="use no, always, unless-stopped or on-failure[:N]")
    if n and name != "on-failure":
        raise UsageError(f"invalid restart policy {spec!r}: only on-failure takes a count",
                         hint="use --restart on-failure:3")
    if n and (not n.isdigit()):
        raise UsageError(f"invalid restart count in {spec!r}", hint="use a whole number: on-failure:3")
    return RestartPolicy(name, int(n or 0))


def check_name(name: str) -> str:
    if not valid_name(name[1:] if name.startswith("/") else name, min_len=2):
        raise UsageError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                         hint="pick a name like my-web_1")
    return name.lstrip("/")
