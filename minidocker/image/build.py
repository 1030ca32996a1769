"""`minidocker build`: a Dockerfile -> an image, one step at a time, with a layer cache.

Map of this file:
  build(context, ...)      the classic builder's loop (read top to bottom):
                             1. parse the Dockerfile, check tags, targets, bases and every
                                COPY source  -> BuildError before any work starts
                             2. for each stage, for each instruction: cache lookup, else
                                execute, commit a new image (config + maybe a layer)
                             3. tag the last image
  _check_plan()            step 1: bases, stages, COPY sources, all before any work
  _step()                  dispatch one instruction to its function in buildsteps.py
                           (S.META for config-only ones, S.workdir, S.run, S.copy_files)

Each step's result is an image in the store, as with docker's classic builder:
" ---> 3f1c2a9e0b7d" is its id, and the next build can reuse it (" ---> Using cache").
The cache key is the parent image id (which covers the whole config so far),
the instruction text after variable expansion, and for COPY/ADD the hash of
the sources' names, modes and contents. RUN's key does not look at the
network or the clock, like docker's: `--no-cache` is how you ask for a fresh run.
"""
from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from .. import params
from ..errors import BuildError, MinidockerError
from . import buildcontext, dockerfile, storeops
from . import buildsteps as S
from .dockerfile import expand, key_values, split_words


__all__ = ["build", "BuildResult"]


@dataclass
class BuildResult:
    image_id: str
    tags: list[str]
    steps: int
    cache_hits: int
    stage_ids: list[str] = field(default_factory=list)



# --- the driver --------------------------------------------------------------

def build(context: str, dockerfile_path: str | None = None, tags: list[str] | tuple = (),
          no_cache: bool = False, build_args: dict[str, str] | None = None,
          target: str | None = None, out: TextIO | None = None, store=None) -> BuildResult:
    """Build an image like `docker build` (classic builder). Returns the final image id."""
    out = out or sys.stdout
    build_args = dict(build_args or {})
    store = store or storeops.default_store()
    ctx = buildcontext.Context(context)
    df_path = dockerfile_path or os.path.join(ctx.root, "Dockerfile")
    try:
        with open(df_path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise BuildError(f"cannot find the Dockerfile {df_path}",
                         hint="name it with -f FILE, or put a file named Dockerfile in the context") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"cannot read the Dockerfile {df_path}: {e}") from None
    df = dockerfile.parse(text, os.path.relpath(df_path) if not os.path.isabs(dockerfile_path or "") else df_path)
    refs = [storeops.parse_ref(t) for t in tags]              # bad tags fail before any work
    stages = df.stages
    if target is not None:
        idx = df.stage_index(target)
        if idx is None or not target or target.isdigit():
            raise BuildError(f"target stage {target!r} not found in {df.path}",
                             hint="stages are: " + ", ".join(s.name or str(s.index) for s in df.stages))
        stages = stages[: idx + 1]
    global_args = _global_args(df, build_args)
    bases = _check_plan(df, stages, ctx, global_args, store, out)
    total = len(df.global_args) + sum(1 + len(s.instructions) for s in stages)

    out.write(f"Sending build context to Docker daemon  {buildcontext.human_size(ctx.size())}\n")
    cache = S.Cache(store)
    n, hits, stage_ids, used_args = 0, 0, [], set(global_args)
    for ins in df.global_args:           # docker's classic builder counts them as steps too
        n += 1
        out.write(f"Step {n}/{total} : {ins.original}\n")
    st: S.State | None = None
    for stage in stages:
        n += 1
        out.write(f"Step {n}/{total} : {stage.from_instr.original}\n")
        st = bases[stage.index](stage_ids)
        out.write(f" ---> {_short(st.image_id) if st.image_id else ''}\n")
        for ins in stage.instructions:
            n += 1
            out.write(f"Step {n}/{total} : {ins.original}\n")
            out.flush()
            hit = _step(ins, st, df, ctx, store, cache, no_cache, build_args, global_args,
                        stage_ids, used_args, out)
            hits += hit
            out.write(f" ---> {_short(st.image_id)}\n")
        if st.image_id is None:
            raise BuildError(f"{df.path}: stage {stage.name or stage.index} produced no image "
                             "(FROM scratch with nothing after it)",
                             hint="add at least one instruction, e.g. COPY a file")
        stage_ids.append(st.image_id)
    unused = sorted(set(build_args) - used_args)
    if unused:
        out.write(f"[Warning] One or more build-args {unused} were not consumed\n")
    assert st is not None and st.image_id
    out.write(f"Successfully built {_short(st.image_id)}\n")
    for ref in refs:
        storeops.tag(store, st.image_id, ref)
        out.write(f"Successfully tagged {ref.familiar()}\n")
    out.flush()
    return BuildResult(st.image_id, [str(r) for r in refs], n, hits, stage_ids)


def _short(image_id: str | None) -> str:
    return (image_id or "").split(":")[-1][: params.SHORT_ID]


def _global_args(df, build_args) -> dict[str, str]:
    """ARGs before the first FROM: usable in FROM lines, and as defaults for ARGs in stages."""
    values: dict[str, str] = {}
    for ins in df.global_args:
        for w in split_words(ins.args, df.escape, ins):
            name, eq, default = w.partition("=")
            values[name] = build_args.get(name, expand(default, values, df.escape, ins) if eq else "")
    return values


def _check_plan(df, stages, ctx, global_args, store, out):
    """Everything that can be checked without running anything: base images exist
    (or are earlier stages), COPY --from names a stage or image, sources exist."""
    bases = {}
    static: dict[int, S.State] = {}      # each stage's ENV/ARGs as far as they can be known now
    for stage in stages:
        ins = stage.from_instr
        base = expand(stage.base, global_args, df.escape, ins)
        if not base:
            raise ins.error(f"base image {stage.base!r} expands to nothing", hint="pass --build-arg")
        prev = df.stage_index(base.lower()) if not base.isdigit() else None
        if prev is not None and prev < stage.index:
            bases[stage.index] = (lambda i=prev: lambda ids: _from_image(store, ids[i]))()
            env_now = S.State(copy.deepcopy(static[prev].config), None)
        elif base == "scratch":
            bases[stage.index] = lambda ids: S.State(S.empty_config(), None)
            env_now = S.State({"config": {}}, None)
        else:
            try:
                ref = storeops.parse_ref(base)
            except MinidockerError as e:
                raise ins.error(f"invalid base image {base!r}: {e}") from None
            image = storeops.resolve_or_pull(store, ref, out, ins)
            bases[stage.index] = (lambda i=image.id: lambda ids: _from_image(store, i))()
            env_now = S.State(copy.deepcopy(image.config), image.id)
        static[stage.index] = env_now
        # walk ENV/ARG statically so COPY sources expand as they will at build time
        for i in stage.instructions:
            if i.cmd == "ENV":
                S.set_env(env_now, key_values(i, df.escape, env_now.env()))
            elif i.cmd == "ARG":
                S.declare_args(i, env_now, df, {}, global_args, set())
            elif i.cmd in ("COPY", "ADD"):
                srcs, _dest = S.copy_words(i, env_now.env(), df.escape)
                frm = i.flags.get("from")
                if frm is not None:
                    idx = df.stage_index(expand(frm, env_now.env(), df.escape, i).lower())
                    if idx is not None and idx >= stage.index:
                        raise i.error(f"--from={frm} names this stage or a later one",
                                      hint="a stage can only copy from stages above it")
                    if idx is None:
                        storeops.resolve_or_pull(store, storeops.parse_ref(frm), out, i)
                    continue
                for s in srcs:
                    if i.cmd == "ADD" and "://" in s:
                        raise i.error(f"ADD from a URL ({s}) is not supported by minidocker",
                                      hint="download it first (curl -O) and ADD the local file")
                    ctx.match(s, i)
    return bases


def _from_image(store, image_id: str) -> S.State:
    img = storeops.resolve(store, image_id)
    return S.State(copy.deepcopy(img.config), img.id)



# --- one step ---------------------------------------------------------------

def _step(ins, st, df, ctx, store, cache, no_cache, build_args, global_args,
          stage_ids, used_args, out) -> int:
    """Execute one instruction on `st` (in place). Returns 1 for a cache hit."""
    env = st.env()
    c = ins.cmd
    if c == "ARG":
        S.declare_args(ins, st, df, build_args, global_args, used_args)
        return S.commit_meta(ins, st, store, cache, no_cache, out, text=ins.original)
    if c in S.META:
        text = S.META[c](ins, st, df, env)
        return S.commit_meta(ins, st, store, cache, no_cache, out, text=text)
    if c == "WORKDIR":
        return S.workdir(ins, st, df, env, store, cache, no_cache, out)
    if c == "RUN":
        return S.run(ins, st, df, env, store, cache, no_cache, out)
    if c in ("COPY", "ADD"):
        return S.copy_files(ins, st, df, ctx, env, store, cache, no_cache, stage_ids, out)
    raise ins.error("not handled by the builder")  # parse() refuses unknown names first


