"""The Dockerfile instructions, one function each, acting on the image so far.

Map of this file:
  State                  one stage's image so far: config dict, image id, its ARGs
  Cache                  build-cache.json: sha256(parent id, instruction, sources) -> image id
  cached / commit_meta / commit_layer     the three ends of a step: reuse, config-only, new layer
  META                   config-only instructions: ENV LABEL MAINTAINER CMD ENTRYPOINT EXPOSE
                         USER VOLUME SHELL STOPSIGNAL (ARG: declare_args)
  workdir / run / copy_files   instructions that change files -> a new layer
  image_view()           a read-only view of an image's files (an overlay of its layers)

build.py is the driver that calls these in Dockerfile order.
"""
from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from .. import params, state
from ..errors import MinidockerError
from ..kernel import signals
from . import buildcontext, storeops
from .dockerfile import Instruction, expand, key_values, split_words

__all__ = ["State", "Cache", "META", "cached", "commit_meta", "commit_layer", "declare_args",
           "set_env", "workdir", "run", "copy_files", "copy_words", "image_view", "empty_config"]

DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class State:
    """One stage's image so far."""
    config: dict                        # full OCI image config (architecture, os, config, rootfs, history)
    image_id: str | None                # None: FROM scratch and nothing committed yet
    args: dict[str, str] = field(default_factory=dict)   # ARGs declared in this stage
    cmd_set: bool = False               # a CMD in this stage (ENTRYPOINT resets only inherited CMD)

    @property
    def c(self) -> dict:
        return self.config.setdefault("config", {})

    def env(self) -> dict[str, str]:
        """Variables for $VAR expansion and RUN: ARGs, overridden by ENV (docker's rule)."""
        env = dict(self.args)
        for kv in self.c.get("Env") or []:
            k, _, v = kv.partition("=")
            env[k] = v
        return env


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def empty_config() -> dict:
    from .registry import host_platform
    p = host_platform()
    return {"architecture": p["architecture"], "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


# --- the cache ---------------------------------------------------------------

class Cache:
    """build-cache.json: cache key -> image id. Entries whose image is gone are ignored."""

    def __init__(self, store):
        self.store = store
        self.path = os.path.join(params.lib_root(), "image", params.BUILD_CACHE_FILE)

    @staticmethod
    def key(parent: str | None, text: str, extra: str = "") -> str:
        return "sha256:" + hashlib.sha256(json.dumps([parent or "scratch", text, extra]).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        try:
            image_id = state.read_json(self.path).get("entries", {}).get(key)
        except (FileNotFoundError, MinidockerError):
            return None
        if image_id and storeops.image_exists(self.store, image_id):
            return image_id
        return None

    def put(self, key: str, image_id: str) -> None:
        with state.lock("build-cache"):
            try:
                data = state.read_json(self.path)
            except (FileNotFoundError, MinidockerError):
                data = {"entries": {}}
            data.setdefault("entries", {})[key] = image_id
            state.write_json(self.path, data)


def copy_words(ins: Instruction, env: dict[str, str], escape: str) -> tuple[list[str], str]:
    """COPY/ADD arguments (JSON or words), expanded -> (sources, destination)."""
    if ins.exec_form is not None:
        words = [expand(w, env, escape, ins) if "$" in w else w for w in ins.exec_form]
    else:
        words = [expand(w, env, escape, ins) for w in split_words(ins.args, escape, ins)]
    if len(words) < 2:
        raise ins.error("needs at least one source and a destination")
    return words[:-1], words[-1]


# --- the ends of a step ------------------------------------------------------

def cached(key: str, st: State, store, cache, no_cache: bool, out) -> bool:
    if no_cache:
        return False
    hit = cache.get(key)
    if not hit:
        return False
    out.write(" ---> Using cache\n")
    img = storeops.resolve(store, hit)
    st.config, st.image_id = copy.deepcopy(img.config), img.id
    return True


def commit_meta(ins, st, store, cache, no_cache, out, text: str) -> int:
    """A config-only step: new config, same layers (docker's `#(nop)` history entries)."""
    key = Cache.key(st.image_id, text)
    if cached(key, st, store, cache, no_cache, out):
        return 1
    st.config.setdefault("history", []).append(
        {"created": _now(), "created_by": f"/bin/sh -c #(nop)  {text}", "empty_layer": True})
    st.image_id = storeops.commit(store, st.config, None, st.image_id)
    cache.put(key, st.image_id)
    return 0


def commit_layer(ins, st, store, cache, key: str, layer_dir: str, created_by: str) -> None:
    """A file-changing step: `layer_dir` (an overlay upper dir or a fresh tree) -> new layer."""
    st.config.setdefault("history", []).append({"created": _now(), "created_by": created_by})
    st.image_id = storeops.commit(store, st.config, layer_dir, st.image_id)
    cache.put(key, st.image_id)


# --- config-only instructions ------------------------------------------------

def set_env(st: State, pairs) -> None:
    env = list(st.c.get("Env") or [])
    for k, v in pairs:
        env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
    st.c["Env"] = env


def declare_args(ins, st, df, build_args, global_args, used_args) -> None:
    for w in split_words(ins.args, df.escape, ins):
        name, eq, default = w.partition("=")
        if name in build_args:
            value = build_args[name]
            used_args.add(name)
        elif eq:
            value = expand(default, st.env(), df.escape, ins)
        else:
            value = global_args.get(name, "")
        st.args[name] = value


def _env(ins, st, df, env):
    pairs = key_values(ins, df.escape, env)
    set_env(st, pairs)
    return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)


def _label(ins, st, df, env):
    pairs = key_values(ins, df.escape, env)
    st.c["Labels"] = {**(st.c.get("Labels") or {}), **dict(pairs)}
    return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)


def _maintainer(ins, st, df, env):
    st.config["author"] = ins.args
    return ins.original


def _command_form(ins, st, df) -> list[str] | None:
    if ins.exec_form is not None:
        return list(ins.exec_form) or None
    return list(st.c.get("Shell") or DEFAULT_SHELL) + [ins.args]


def _cmd(ins, st, df, env):
    st.c["Cmd"] = _command_form(ins, st, df)
    st.cmd_set = True
    return f"CMD {json.dumps(st.c['Cmd'])}"


def _entrypoint(ins, st, df, env):
    st.c["Entrypoint"] = _command_form(ins, st, df)
    if not st.cmd_set:
        # docker: "If CMD is defined from the base image, setting ENTRYPOINT will reset CMD"
        st.c["Cmd"] = None
    return f"ENTRYPOINT {json.dumps(st.c['Entrypoint'])}"


def _expose(ins, st, df, env):
    ports = dict(st.c.get("ExposedPorts") or {})
    for w in split_words(ins.args, df.escape, ins):
        spec = expand(w, env, df.escape, ins)
        num, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        lo, _, hi = num.partition("-")
        if proto not in ("tcp", "udp", "sctp") or not lo.isdigit() or (hi and not hi.isdigit()):
            raise ins.error(f"invalid port {spec!r}", hint="write PORT, PORT/tcp, PORT/udp or FROM-TO")
        a, b = int(lo), int(hi or lo)
        if not (1 <= a <= b <= 65535):
            raise ins.error(f"port {spec!r} is out of range 1-65535")
        for p in range(a, b + 1):
            ports[f"{p}/{proto}"] = {}
    st.c["ExposedPorts"] = ports
    return "EXPOSE " + " ".join(sorted(ports))


def _user(ins, st, df, env):
    words = split_words(ins.args, df.escape, ins)
    if len(words) != 1:
        raise ins.error("takes exactly one argument: USER name[:group] or uid[:gid]")
    st.c["User"] = expand(words[0], env, df.escape, ins)
    return f"USER {st.c['User']}"


def _volume(ins, st, df, env):
    words = ins.exec_form if ins.exec_form is not None else split_words(ins.args, df.escape, ins)
    vols = dict(st.c.get("Volumes") or {})
    for w in words:
        path = expand(w, env, df.escape, ins)
        if not path.strip():
            raise ins.error("a VOLUME path may not be empty")
        vols[path] = {}
    st.c["Volumes"] = vols
    return "VOLUME " + json.dumps(sorted(vols))


def _shell(ins, st, df, env):
    st.c["Shell"] = list(ins.exec_form or [])
    return f"SHELL {json.dumps(st.c['Shell'])}"


def _stopsignal(ins, st, df, env):
    sig = expand(ins.args.strip(), env, df.escape, ins)
    try:
        signals.number(sig)
    except ValueError:
        raise ins.error(f"invalid signal {sig!r}", hint="write e.g. STOPSIGNAL SIGQUIT or STOPSIGNAL 3") from None
    st.c["StopSignal"] = sig
    return f"STOPSIGNAL {sig}"


META = {"ENV": _env, "LABEL": _label, "MAINTAINER": _maintainer, "CMD": _cmd,
        "ENTRYPOINT": _entrypoint, "EXPOSE": _expose, "USER": _user, "VOLUME": _volume,
        "SHELL": _shell, "STOPSIGNAL": _stopsignal}


# --- file-changing instructions ----------------------------------------------

@contextlib.contextmanager
def image_view(layer_dirs: list[str]):
    """A read-only directory showing an image's files (its layers stacked).

    No layer: an empty temp dir. One layer: the layer dir itself. More: a
    read-only overlay with only lower dirs, which the kernel allows
    (kernel/overlay.py, which also copes with images of 100+ layers).
    Shell: `mount -t overlay overlay -o lowerdir=TOP:...:BOTTOM DIR`.
    """
    if len(layer_dirs) == 1:
        yield layer_dirs[0]
        return
    d = tempfile.mkdtemp(prefix="view-", dir=_tmp_root())
    try:
        if layer_dirs:
            from ..kernel import overlay
            # upper=work=None: only lower dirs, which overlayfs mounts read-only
            overlay.mount_overlay(layer_dirs, None, None, d)
            try:
                yield d
            finally:
                overlay.unmount_overlay(d, lazy=True)
        else:
            yield d
    finally:
        os.rmdir(d)


def _tmp_root() -> str:
    d = os.path.join(params.lib_root(), "tmp")
    os.makedirs(d, exist_ok=True)
    return d


def _exists_in(view: str, path: str) -> tuple[bool, bool]:
    """(exists, is_dir) for an absolute `path` inside the view, symlinks resolved inside it."""
    from ..kernel.mounts import secure_join
    p = secure_join(view, path)
    return os.path.lexists(p), os.path.isdir(p)


def workdir(ins, st, df, env, store, cache, no_cache, out) -> int:
    path = expand(ins.args.strip(), env, df.escape, ins)
    if not path.startswith("/"):
        path = os.path.join(st.c.get("WorkingDir") or "/", path)
    st.c["WorkingDir"] = os.path.normpath(path)
    text = f"WORKDIR {st.c['WorkingDir']}"
    # classic builder: a missing WORKDIR is created in its own layer
    with image_view(storeops.layer_dirs(store, st.image_id)) as view:
        exists, _ = _exists_in(view, st.c["WorkingDir"])
    if exists:
        return commit_meta(ins, st, store, cache, no_cache, out, text)
    key = Cache.key(st.image_id, text, "mkdir")
    if cached(key, st, store, cache, no_cache, out):
        return 1
    layer = tempfile.mkdtemp(prefix="workdir-", dir=_tmp_root())
    try:
        os.makedirs(os.path.join(layer, st.c["WorkingDir"].lstrip("/")), 0o755)
        commit_layer(ins, st, store, cache, key, layer, f"/bin/sh -c #(nop) {text}")
    finally:
        shutil.rmtree(layer, ignore_errors=True)
    return 0


def run(ins, st, df, env, store, cache, no_cache, out) -> int:
    """RUN: a container of the image so far runs the command; its upper dir is the new layer.

    The same create/start/remove a user gets from `minidocker run`, with the
    image's Env plus the stage's ARGs, its WorkingDir and User, no network
    (params.BUILD_NETWORK). The overlay upper dir holds exactly what the
    command changed, including whiteouts for deletions.
    """
    if st.image_id is None:
        raise ins.error("cannot RUN in an empty image (FROM scratch with no files)",
                        hint="COPY a static binary first, or start FROM busybox")
    argv = list(ins.exec_form) if ins.exec_form is not None \
        else list(st.c.get("Shell") or DEFAULT_SHELL) + [ins.args]
    if not argv:
        raise ins.error("needs a command")
    run_env = {**env}
    # ARGs are visible to RUN but are not saved in the image (docker's rule), so
    # they must be part of the cache key
    extra = json.dumps(sorted((k, v) for k, v in st.args.items()))
    key = Cache.key(st.image_id, "RUN " + json.dumps(argv), extra)
    if cached(key, st, store, cache, no_cache, out):
        return 1
    from ..runtime import container as rt
    c = rt.create(st.image_id, argv, entrypoint="", env=[f"{k}={v}" for k, v in run_env.items()],
                  workdir=st.c.get("WorkingDir") or "/", user=st.c.get("User") or "",
                  network=params.BUILD_NETWORK)
    try:
        out.write(f" ---> Running in {c.short_id}\n")
        out.flush()
        rt.start(c, attach=False)
        code = _follow(rt, c, out)
        if code != 0:
            raise ins.error(f"the command '{' '.join(argv)}' returned a non-zero code: {code}",
                            hint="the output above is the command's; fix it and build again")
        created_by = " ".join(argv)
        commit_layer(ins, st, store, cache, key, c.upper_dir, created_by)
    finally:
        out.write(f"Removing intermediate container {c.short_id}\n")
        rt.remove(c, force=True)
    return 0


def _follow(rt, c, out) -> int:
    """Copy the container's log (json-file, one {"log": ...} a line) to `out` as it
    grows, until the container exits; returns its exit code. Going through the
    log instead of our stdout lets a notebook or a test capture RUN's output."""
    from ..errors import StateError
    pos = 0
    while True:
        try:
            code = rt.wait(c, timeout=0.05)
        except StateError:
            code = None
        pos = _copy_log(c.log_path, pos, out)
        if code is not None:
            return code


def _copy_log(path: str, pos: int, out) -> int:
    """Write the log lines after byte `pos` to `out`; returns the new position."""
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            while True:
                line = f.readline()
                if not line.endswith(b"\n"):
                    return pos              # a line being written: read it next time
                pos += len(line)
                try:
                    out.write(json.loads(line).get("log", ""))
                except ValueError:
                    pass
                out.flush()
    except FileNotFoundError:
        return pos


def _owner(ins, spec: str | None, view: str) -> tuple[int, int] | None:
    """--chown=user[:group]: numbers, or names looked up in the image's /etc/passwd, /etc/group."""
    if not spec:
        return None
    user, _, group = spec.partition(":")

    def lookup(name: str, fname: str) -> int:
        if name.isdigit():
            return int(name)
        try:
            from ..kernel.mounts import secure_join
            # secure_join: an image's /etc may be a symlink; never read the host's files
            with open(secure_join(view, "/etc/" + fname), encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) > 3 and parts[0] == name:
                        return int(parts[2])
        except (OSError, ValueError):
            pass
        raise ins.error(f"--chown: no {'user' if fname == 'passwd' else 'group'} {name!r} "
                        f"in the image's /etc/{fname}", hint="use numeric ids: --chown=1000:1000")
    uid = lookup(user, "passwd")
    gid = lookup(group, "group") if group else uid
    return uid, gid


def copy_files(ins, st, df, ctx, env, store, cache, no_cache, stage_ids, out) -> int:
    srcs, dest = copy_words(ins, env, df.escape)
    workdir = st.c.get("WorkingDir") or "/"
    dest_abs = os.path.normpath(dest if dest.startswith("/") else os.path.join(workdir, dest))
    dest_dir_form = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    mode = None
    if "chmod" in ins.flags:
        try:
            mode = int(ins.flags["chmod"], 8)
        except ValueError:
            raise ins.error(f"--chmod={ins.flags['chmod']} is not an octal mode") from None
    frm = ins.flags.get("from")
    if frm is not None:
        frm = expand(frm, env, df.escape, ins)
        idx = df.stage_index(frm.lower())
        src_image = stage_ids[idx] if idx is not None else storeops.resolve(store, frm).id
        src_dirs = storeops.layer_dirs(store, src_image)
    else:
        src_image, src_dirs = None, None
    with contextlib.ExitStack() as stack:
        src_root = stack.enter_context(image_view(src_dirs)) if src_dirs is not None else ctx.root
        if src_dirs is None:
            rels = [r for s in srcs for r in ctx.match(s, ins)]
            ignored = ctx.ignored
        else:
            rels, ignored = [], None
            from ..kernel.mounts import secure_join
            for s in srcs:
                # resolve symlinks inside the image: `/etc -> /` must not reach the host's /
                real = secure_join(src_root, "/" + s.lstrip("/"))
                if not os.path.lexists(real):
                    raise ins.error(f"source {s!r} not found in stage/image {frm}")
                rels.append(os.path.relpath(real, os.path.realpath(src_root)))
        digest = buildcontext.content_hash(src_root, rels, ignored)
        text = f"{ins.cmd} {' '.join(f'--{k}={v}' for k, v in sorted(ins.flags.items()))} " \
               f"{digest} in {dest_abs}".replace("  ", " ")
        key = Cache.key(st.image_id, text, src_image or "")
        if cached(key, st, store, cache, no_cache, out):
            return 1
        view = stack.enter_context(image_view(storeops.layer_dirs(store, st.image_id)))
        owner = _owner(ins, ins.flags.get("chown"), view)
        _, dest_is_dir = _exists_in(view, dest_abs)
        into_dir = dest_dir_form or len(rels) > 1 or dest_is_dir
        if len(rels) > 1 and not dest_dir_form:
            raise ins.error(f"with more than one source the destination must end with '/': {dest!r}")
        layer = tempfile.mkdtemp(prefix="copy-", dir=_tmp_root())
        stack.callback(shutil.rmtree, layer, True)
        for rel in rels:
            src = os.path.join(os.path.realpath(src_root), rel)
            target = os.path.join(layer, dest_abs.lstrip("/"))
            if into_dir and not os.path.isdir(src):
                target = os.path.join(target, os.path.basename(rel))
            if ins.cmd == "ADD" and src_dirs is None and _is_archive(src):
                import tarfile
                from .tarsafe import extract_layer
                # an archive always unpacks *into* the destination directory
                target = os.path.join(layer, dest_abs.lstrip("/"))
                buildcontext.make_dirs(target)
                with tarfile.open(src, "r:*") as tar:
                    extract_layer(tar, target, whiteouts="keep")
                continue
            buildcontext.copy_into(src, target, owner, mode, ignored, rel)
        commit_layer(ins, st, store, cache, key, layer, f"/bin/sh -c #(nop) {text}")
    return 0


def _is_archive(path: str) -> bool:
    """ADD unpacks local tar archives (plain, gzip, bzip2, xz), recognised by content."""
    import tarfile
    if not os.path.isfile(path):
        return False
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError, EOFError):
        return False
