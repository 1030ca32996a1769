"""Registry credentials: `minidocker login` saves them, the registry client reads them.

Map of this file:
  auth_file()             where they live: <lib_root>/auth.json, mode 0600
  load(registry)          -> (username, password) or None
  save(registry, u, p)    add or replace one registry's entry (atomic, locked)
  remove(registry)        `logout`; True if there was an entry
  key(registry)           "docker.io" is stored under docker's historical key

The file has docker's shape (~/.docker/config.json), so a student can compare:
    {"auths": {"localhost:5000": {"auth": base64("user:password")}}}
Like docker without a credential helper, the password is only base64-encoded,
not encrypted: the 0600 mode (owner read/write only) is the protection. We
check the mode on every read and refuse a file others can read.
"""
from __future__ import annotations

import os
import stat

from .. import params, state
from ..errors import RegistryError

__all__ = ["auth_file", "load", "save", "remove", "key"]

_HUB_KEY = "https://index.docker.io/v1/"   # the key docker itself uses for Docker Hub


def auth_file() -> str:
    return os.path.join(params.lib_root(), params.AUTH_FILE)


def key(registry: str) -> str:
    return _HUB_KEY if registry in ("docker.io", "index.docker.io", "registry-1.docker.io") else registry


def _read() -> dict:
    path = auth_file()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"auths": {}}
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise RegistryError(
            f"credentials file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})",
            hint=f"chmod 600 {path}   (or 'minidocker logout' and log in again)")
    data = state.read_json(path, versioned=False)
    data.setdefault("auths", {})
    return data


def load(registry: str) -> tuple[str, str] | None:
    """The saved (username, password) for `registry`, or None."""
    entry = _read()["auths"].get(key(registry))
    if not entry or "auth" not in entry:
        return None
    import base64           # here: most pushes and pulls have no saved login (~1 ms of import)
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"credentials for {registry} in {auth_file()} are garbled",
                            hint=f"minidocker logout {registry}; minidocker login {registry}") from None
    return user, password


def save(registry: str, username: str, password: str) -> str:
    """Store credentials (after login checked them). Returns the file path."""
    path = auth_file()
    with state.lock("auth"):
        data = _read()
        import base64
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        data["auths"][key(registry)] = {"auth": token}
        # write_json writes a mkstemp() file (created 0600) and renames it into place
        state.write_json(path, data, versioned=False)
        os.chmod(path, 0o600)
    return path


def remove(registry: str) -> bool:
    """Forget `registry`'s credentials (`logout`)."""
    path = auth_file()
    with state.lock("auth"):
        data = _read()
        gone = data["auths"].pop(key(registry), None) is not None
        if gone:
            state.write_json(path, data, versioned=False)
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass
    return gone
