"""The build context: which files COPY/ADD may use, their cache hash, and copying them.

Map of this file:
  Context(dir)             the context directory and its .dockerignore rules
    .ignored(rel)          is this path excluded? (last matching pattern wins, `!` re-includes)
    .match(src, ins)       a COPY source (may be a glob) -> relative paths; errors name the line
    .files()               every file docker would send (for "Sending build context ... 2.048kB")
  content_hash(root, rels) sha256 over names, modes, link targets and contents (not mtimes):
                           the COPY/ADD part of the cache key
  copy_into(src, dst, ...) copy one source (file, dir contents, symlink) into a layer directory
  pattern_regex()          docker's .dockerignore glob (`*`, `?`, `[..]`, `**`) -> regex

Why no mtimes in the hash: `git clone` or `touch` changes them without changing
what the image would contain; docker's cache ignores them too.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import stat

from ..errors import BuildError

__all__ = ["Context", "content_hash", "copy_into", "make_dirs", "pattern_regex", "human_size"]


def pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over '/'-paths."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")         # "**/" : zero or more directories
                i += 1
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append(fnmatch.translate("[" + body + "]")[4:-3])
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.S)


def _clean(path: str) -> str:
    p = os.path.normpath("/" + path.strip()).lstrip("/")
    return "" if p == "." else p


class Context:
    """The context directory (`minidocker build CONTEXT`) with its .dockerignore."""

    def __init__(self, root: str):
        if not os.path.isdir(root):
            raise BuildError(f"build context {root!r} is not a directory",
                             hint="give a directory: 'minidocker build -t app .'")
        self.root = os.path.realpath(root)
        self.rules: list[tuple[bool, re.Pattern]] = []
        path = os.path.join(self.root, ".dockerignore")
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    neg = line.startswith("!")
                    pat = _clean(line[1:] if neg else line)
                    if not pat:
                        continue
                    try:
                        self.rules.append((neg, pattern_regex(pat)))
                    except re.error as e:
                        raise BuildError(f"{path}:{n}: invalid pattern {line!r}: {e}",
                                         hint="patterns use * ? [abc] and **, like Go's filepath.Match") from None

    def ignored(self, rel: str) -> bool:
        """Docker's rule: a path is excluded if it or a parent directory matches the
        last applicable pattern, unless a later `!pattern` matches it again."""
        rel = _clean(rel)
        if not rel or not self.rules:
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        excluded = False
        for neg, rx in self.rules:
            if any(rx.match(p) for p in prefixes):
                excluded = not neg
        return excluded

    def files(self) -> list[str]:
        out = []
        for d, dirs, names in os.walk(self.root):
            rel_d = os.path.relpath(d, self.root)
            for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
                rel = n if rel_d == "." else f"{rel_d}/{n}"
                if not self.ignored(rel):
                    out.append(rel)
        return sorted(out)

    def size(self) -> int:
        return sum(os.lstat(os.path.join(self.root, r)).st_size for r in self.files())

    def match(self, src: str, ins) -> list[str]:
        """COPY/ADD source -> relative paths in the context. Refuses escapes and misses."""
        norm = os.path.normpath(src.lstrip("/")) if src not in ("", "/") else "."
        if norm == ".." or norm.startswith("../"):
            raise ins.error(f"source {src!r} is outside the build context",
                            hint="COPY can only see files under the context directory; move the file there")
        if norm != "." and any(ch in norm for ch in "*?["):
            rx = pattern_regex(norm)
            hits = [r for r in self._all_paths() if rx.match(r) and not self.ignored(r)]
        else:
            full = os.path.join(self.root, norm)
            real = os.path.realpath(full)
            if real != self.root and not real.startswith(self.root + os.sep):
                raise ins.error(f"source {src!r} is outside the build context (it resolves to {real})",
                                hint="symlinks in the context may not point outside it")
            hits = [norm] if os.path.lexists(full) and not (norm != "." and self.ignored(norm)) else []
        for h in hits:
            real = os.path.realpath(os.path.join(self.root, h))
            if real != self.root and not real.startswith(self.root + os.sep):
                raise ins.error(f"source {h!r} is outside the build context (it resolves to {real})",
                                hint="symlinks in the context may not point outside it")
        if not hits:
            why = " (excluded by .dockerignore)" if norm != "." and self.ignored(norm) else ""
            raise ins.error(f"source {src!r} not found in the build context {self.root}{why}",
                            hint="paths are relative to the context directory, not to the Dockerfile")
        return sorted(hits)

    def _all_paths(self) -> list[str]:
        out = []
        for d, dirs, names in os.walk(self.root):
            rel_d = os.path.relpath(d, self.root)
            for n in dirs + names:
                out.append(n if rel_d == "." else f"{rel_d}/{n}")
        return out


def content_hash(root: str, rels: list[str], ignored=None) -> str:
    """sha256 over every file under the given paths: name, type+mode, link target, content."""
    h = hashlib.sha256()
    for rel in rels:
        for path, name in _walk(os.path.join(root, rel), rel, ignored):
            st = os.lstat(path)
            h.update(f"{name}\0{st.st_mode:o}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            h.update(b"\0")
    return "sha256:" + h.hexdigest()


def _walk(path: str, name: str, ignored):
    yield path, name
    if os.path.isdir(path) and not os.path.islink(path):
        for entry in sorted(os.listdir(path)):
            sub = f"{name}/{entry}" if name not in ("", ".") else entry
            if ignored and ignored(sub):
                continue
            yield from _walk(os.path.join(path, entry), sub, ignored)


def copy_into(src: str, dst: str, owner: tuple[int, int] | None, mode: int | None,
              ignored=None, rel: str = "") -> None:
    """Copy `src` to the path `dst` (both on the host); a directory's *contents* go into dst.

    Symlinks inside a directory are copied as symlinks; a top-level symlink
    source is followed (docker's COPY does the same). Owner defaults to 0:0
    (root), as in docker; `mode` is --chmod.
    """
    uid, gid = owner or (0, 0)
    st = os.stat(src)
    if stat.S_ISDIR(st.st_mode):
        _mkdirs(dst, uid, gid)
        for entry in sorted(os.listdir(src)):
            sub = f"{rel}/{entry}" if rel not in ("", ".") else entry
            if ignored and ignored(sub):
                continue
            s, d = os.path.join(src, entry), os.path.join(dst, entry)
            if os.path.islink(s):
                _remove(d)
                os.symlink(os.readlink(s), d)
                os.lchown(d, uid, gid)
            else:
                copy_into(s, d, owner, mode, ignored, sub)
        os.chown(dst, uid, gid)
        os.chmod(dst, mode if mode is not None else stat.S_IMODE(st.st_mode))
        return
    _mkdirs(os.path.dirname(dst), 0, 0)
    _remove(dst)
    if stat.S_ISREG(st.st_mode):
        shutil.copy2(src, dst)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(dst)                  # copying a FIFO's "content" would block forever
    else:
        return                          # sockets and devices do not belong in an image
    os.chown(dst, uid, gid)
    os.chmod(dst, mode if mode is not None else stat.S_IMODE(st.st_mode))


def _remove(path: str) -> None:
    """Make room for a new entry: later sources replace what earlier ones put there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _mkdirs(path: str, uid: int, gid: int) -> None:
    """mkdir -p inside the layer being built, *replacing* symlinks on the way.

    An earlier source may have put a symlink `a -> /etc` into the layer; a
    later source writing to a/passwd must not follow it to the host's /etc.
    (The layer dir is ours and starts empty, so its top always exists.)
    """
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        return
    _mkdirs(os.path.dirname(path), uid, gid)
    os.mkdir(path, 0o755)
    os.chown(path, uid, gid)


def make_dirs(path: str) -> None:
    """_mkdirs for root-owned directories (ADD's archive destination)."""
    _mkdirs(path, 0, 0)


def human_size(n: float) -> str:
    """docker's units: 2.048kB, 1.2MB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"
