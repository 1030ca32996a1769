"""Where our blobs already live: which repositories of which registry have them.

Map of this file:
  remember(store, host, repo, digests)   after a push or pull: these blobs are in host/repo
  sources(store, host)                   {digest: [repositories of host holding it, newest first]}

Why: pushing `myapp` to a repository it has never been in would upload every
layer again, although the same registry already stores most of them for
another repository (say the base image we pulled from it). The Distribution
API lets a client ask the registry to *mount* a blob from one repository into
another (POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>): one
request instead of an upload. To know what to ask for, docker keeps this same
record (its "v2 metadata" under /var/lib/docker/image/overlay2/distribution/).

On disk: L/image/blob-sources.json = {"host": {"sha256:...": ["repo", ...]}}.
It is only a hint: a stale entry costs one refused mount (the registry then
answers 202 and we upload as usual), so it is never cleaned up with the blobs.
"""
from __future__ import annotations

import os

from .. import state

__all__ = ["remember", "sources"]

LOCK = "image-blob-sources"
KEEP = 5               # repositories remembered per blob (newest first)


def _path(store) -> str:
    return os.path.join(store.root, "blob-sources.json")


def _read(store) -> dict:
    try:
        data = state.read_json(_path(store), versioned=False)
    except Exception:                         # missing or damaged: no hints, not an error
        return {}
    return data if isinstance(data, dict) else {}


def remember(store, host: str, repo: str, digests) -> None:
    """Record that host/repo holds each blob in `digests` (a write of one small JSON file)."""
    with state.lock(LOCK):
        data = _read(store)
        known = data.setdefault(host, {})
        for d in dict.fromkeys(digests):
            repos = [r for r in known.get(d, []) if r != repo]
            known[d] = ([repo] + repos)[:KEEP]
        os.makedirs(store.root, exist_ok=True)
        state.write_json(_path(store), data, versioned=False)


def sources(store, host: str) -> dict[str, list[str]]:
    """digest -> repositories of `host` that held it when we last pushed or pulled it."""
    known = _read(store).get(host)
    if not isinstance(known, dict):
        return {}
    return {d: [r for r in repos if isinstance(r, str)] for d, repos in known.items() if isinstance(repos, list)}
