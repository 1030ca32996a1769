"""Atomic, locked, versioned JSON state files.

Two rules keep state whole when commands run at once or get killed:
  1. write_json() writes a temp file in the same directory and
     rename(2)s it over the old one: a reader sees the old or the new file,
     never half of one (shell: `cat > f.tmp && mv f.tmp f`).
  2. lock() takes an flock(2) on a lock file for a read-modify-write
     (shell: `flock /run/minidocker/NAME.lock CMD`). The kernel drops the
     lock when the holder dies, so a `kill -9` never leaves it stuck.

Every file carries {"version": STATE_VERSION}; read_json() refuses files that
are unreadable or of another version with CorruptState, naming the file.

remove_tree() is how every state directory a container or an image filled
(a record, a volume, a layer) is deleted: safely, however deep it is.
"""
from __future__ import annotations

import errno
import fcntl
import os
import time
TYPE_CHECKING = False   # importing typing costs ~4 ms at start-up; type checkers read this
if TYPE_CHECKING:
    from typing import Any

from . import fastjson as json   # json's C core, without `re` (see fastjson)
from . import params
from .errors import CorruptState, MinidockerError


def now_iso() -> str:
    """Now, in UTC, as docker writes timestamps: 2026-11-28T18:08:00.123456Z.

    time.strftime, not datetime: one import less on `run`'s path (~1 ms).
    """
    secs, ns = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns // 1000:06d}Z"


_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")


def valid_name(text: str, min_len: int = 1) -> bool:
    """docker's rule for container, network and volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]*.

    (Containers need at least two characters: min_len=2.) Plain Python, not a
    regular expression: `re` is not imported on `minidocker run`'s path.
    """
    return len(text) >= min_len and text[:1] in _NAME_FIRST and all(c in _NAME_REST for c in text)


def rm_f(path: str) -> None:
    """unlink(2) `path` if it is there (shell: `rm -f PATH`); a missing file is not an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def mkstemp(directory: str, prefix: str = ".tmp-", suffix: str = "") -> tuple[int, str]:
    """tempfile.mkstemp by hand: open(O_CREAT|O_EXCL, 0600) of a random name in `directory`.

    The tempfile module imports shutil, random and with them re, bz2 and lzma:
    ~13 ms on every pull and `run` that only needs a unique name. 48 random
    bits plus the pid make a clash practically impossible; O_EXCL makes it safe.
    """
    path = os.path.join(directory, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}{suffix}")
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path


def mkdtemp(directory: str, prefix: str = ".tmp-") -> str:
    """tempfile.mkdtemp by hand (see mkstemp): mkdir(2) of a random name, mode 0700."""
    path = os.path.join(directory, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}")
    os.mkdir(path, 0o700)
    return path


def write_json(path: str, data: dict[str, Any], versioned: bool = True) -> None:
    """Atomically replace `path` with `data` as JSON (temp file + fsync + rename)."""
    if versioned:
        data = {"version": params.STATE_VERSION, **{k: v for k, v in data.items() if k != "version"}}
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = mkstemp(d, suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
        # No fsync: rename(2) alone makes the switch atomic for every reader and
        # against a killed process (the case that matters here); fsync would only
        # add power-loss safety, at ~10 ms a write on every `run`.
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: str, versioned: bool = True) -> dict[str, Any]:
    """Read a state file; CorruptState if it is not valid JSON of our version."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptState(f"state file {path} is corrupt ({e.__class__.__name__}: {e})") from None
    if not isinstance(data, dict):
        raise CorruptState(f"state file {path} is corrupt (not a JSON object)")
    if versioned and data.get("version") != params.STATE_VERSION:
        raise CorruptState(
            f"state file {path} has version {data.get('version')!r}, "
            f"this minidocker reads version {params.STATE_VERSION}")
    return data


def lock(name: str, timeout: float = params.LOCK_TIMEOUT) -> "_Lock":
    """`with state.lock(name):` holds an exclusive flock(2) on <run_root>/locks/<name>.lock.

    Shell: `flock /run/minidocker/locks/NAME.lock CMD`. Closing the fd releases
    it, so a killed command never leaves a lock held.
    """
    return _Lock(name, timeout)


class _Lock:
    """The context manager behind lock(): a class, not @contextlib.contextmanager,
    because contextlib (with functools and collections) is ~2 ms of every `run`."""

    def __init__(self, name: str, timeout: float):
        self.name, self.timeout, self.fd = name, timeout, -1

    def __enter__(self) -> None:
        d = os.path.join(params.run_root(), "locks")
        os.makedirs(d, exist_ok=True)
        fd = os.open(os.path.join(d, self.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._wait(fd)
        except BaseException:        # the timeout, or Ctrl-C while waiting: no fd left open
            os.close(fd)
            raise
        self.fd = fd

    def _wait(self, fd: int) -> None:
        """flock(fd, LOCK_EX), polling with LOCK_NB so a stuck holder ends in a message."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if time.monotonic() > deadline:
                raise MinidockerError(
                    f"timed out after {self.timeout:.0f}s waiting for the lock {self.name!r}",
                    hint="another minidocker command is holding it; wait or check 'ps aux | grep minidocker'")
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)
        self.fd = -1


def remove_tree(path: str) -> None:
    """rm -rf PATH, without following any symlink the container planted in its upper dir.

    Walks by directory fds, as shutil.rmtree's safe mode does: each directory is
    opened with O_NOFOLLOW relative to its parent's fd, so a symlink never
    redirects the walk outside PATH. Unlike rmtree it is a loop, not recursion,
    and holds at most two fds: a container can leave `mkdir -p a/a/a/...` 5000
    deep, which makes rmtree (and a recursive walk) fail with RecursionError.
    It goes down one directory at a time and back up through "..", checking
    that ".." is still the directory it came from. (Not shutil itself
    either: importing it costs ~1 ms on every `run --rm`.) Errors are ignored, as with
    rmtree(ignore_errors=True): what cannot be removed stays, prune retries.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    above: list[tuple[str, int, int]] = []   # per level: (our name, parent's st_dev, st_ino)
    stuck: set[tuple[int, int]] = set()      # directories we could not empty: do not re-enter
    try:
        while True:
            with os.scandir(fd) as it:
                entries = list(it)
            child = None
            for e in entries:
                try:
                    if not e.is_dir(follow_symlinks=False):
                        os.unlink(e.name, dir_fd=fd)
                    elif child is None and (os.fstat(fd).st_dev, e.inode()) not in stuck:
                        child = (e.name, os.open(e.name, flags, dir_fd=fd))
                except OSError:
                    pass
            if child is not None:                        # down one level
                here = os.fstat(fd)
                above.append((child[0], here.st_dev, here.st_ino))
                os.close(fd)
                fd = child[1]
                continue
            if not above:                                # back at PATH: done
                break
            name, dev, ino = above.pop()                 # empty here: up one level, remove it
            me = os.fstat(fd)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            up = os.fstat(fd)
            if (up.st_dev, up.st_ino) != (dev, ino):
                return                                   # the tree moved under us: stop here
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                stuck.add((me.st_dev, me.st_ino))
    except OSError:
        return
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except OSError:
        pass
