"""Container records on disk: find, list, create, update and delete them.

A container is a directory  L/containers/<id>/  holding
  config.json   what was asked (ContainerConfig + Name, Created, Image) - written once
  state.json    docker's State object + Pid/MonitorPid/RestartCount/NetworkSettings
                - rewritten atomically by whoever changes it, under the container's lock

Map:
  Container            one record; .state is a dict shaped like docker's State
  lookup(name_or_id)   exact name, exact id, or a unique id prefix (docker's rule)
  list_all()           every record, newest first
  new_record(config)   allocate id + unique name under the global lock, write config.json
  update_state(c, **)  read-modify-write of state.json under the container's lock
  delete_record(c)     remove the directory (caller has torn everything else down)
"""
from __future__ import annotations

import os
from ..plaindata import dataclass, field
TYPE_CHECKING = False   # importing typing costs ~4 ms at start-up; type checkers read this
if TYPE_CHECKING:
    from typing import Any

from .. import params, state
from ..errors import Conflict, CorruptState, NotFound, UsageError
from .config import ContainerConfig, check_name


def containers_dir() -> str:
    return os.path.join(params.lib_root(), "containers")


now_iso = state.now_iso     # records' timestamps (Created, StartedAt, FinishedAt)


ZERO_TIME = "0001-01-01T00:00:00Z"


def initial_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


@dataclass
class Container:
    id: str
    name: str
    created: str
    config: ContainerConfig
    state: dict[str, Any] = field(default_factory=initial_state)
    monitor_pid: int = 0
    pid_start: int = 0                 # /proc/PID/stat start time, guards against pid reuse
    restart_count: int = 0
    stop_requested: bool = False
    network_settings: dict[str, Any] = field(default_factory=dict)

    # --- paths -----------------------------------------------------------
    @property
    def dir(self) -> str:
        return os.path.join(containers_dir(), self.id)

    @property
    def upper_dir(self) -> str:
        return os.path.join(self.dir, "upper")

    @property
    def work_dir(self) -> str:
        return os.path.join(self.dir, "work")

    @property
    def merged_dir(self) -> str:
        return os.path.join(self.dir, "merged")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    @property
    def short_id(self) -> str:
        return self.id[: params.SHORT_ID]

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    # --- persistence -----------------------------------------------------
    def state_doc(self) -> dict[str, Any]:
        return {"State": self.state, "MonitorPid": self.monitor_pid, "PidStart": self.pid_start,
                "RestartCount": self.restart_count, "StopRequested": self.stop_requested,
                "NetworkSettings": self.network_settings}

    def save_state(self) -> None:
        state.write_json(os.path.join(self.dir, "state.json"), self.state_doc())

    def reload(self) -> "Container":
        fresh = _load(self.id)
        self.__dict__.update(fresh.__dict__)
        return self


def _load(cid: str) -> Container:
    d = os.path.join(containers_dir(), cid)
    cfg = state.read_json(os.path.join(d, "config.json"))
    try:
        st = state.read_json(os.path.join(d, "state.json"))
    except FileNotFoundError:
        st = {}
    try:
        return Container(
            id=cfg["Id"], name=cfg["Name"], created=cfg["Created"],
            config=ContainerConfig.from_dict(cfg["Config"]),
            state={**initial_state(), **st.get("State", {})},
            monitor_pid=st.get("MonitorPid", 0), pid_start=st.get("PidStart", 0),
            restart_count=st.get("RestartCount", 0), stop_requested=st.get("StopRequested", False),
            network_settings=st.get("NetworkSettings", {}))
    except (KeyError, TypeError) as e:
        raise CorruptState(f"container record {d} is incomplete ({e})") from None


def list_all(include_broken: bool = False) -> list[Container]:
    """All container records, newest first. Broken records are skipped (prune removes them)."""
    d = containers_dir()
    out = []
    for cid in os.listdir(d) if os.path.isdir(d) else []:
        try:
            out.append(_load(cid))
        except (FileNotFoundError, CorruptState):
            if include_broken:
                raise
    out.sort(key=lambda c: c.created, reverse=True)
    return out


def broken_records() -> list[str]:
    """Ids of record directories that cannot be read (corrupt or unknown-version files)."""
    d = containers_dir()
    out = []
    for cid in os.listdir(d) if os.path.isdir(d) else []:
        if cid.startswith("."):
            continue
        try:
            _load(cid)
        except (FileNotFoundError, CorruptState):
            out.append(cid)
    return out


def lookup(name_or_id: str) -> Container:
    """Find a container by exact name, exact id, or unique id prefix (like docker)."""
    key = name_or_id.lstrip("/")
    if not key:
        raise UsageError("empty container name", hint="give a container name or id")
    every = list_all()
    for c in every:
        if c.name == key or c.id == key:
            return c
    matches = [c for c in every if c.id.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict(f"multiple containers match the id prefix {key!r}",
                       hint="give more characters of the id")
    for cid in broken_records():
        if cid.startswith(key):
            _load(cid)     # raises CorruptState naming the unreadable file
    raise NotFound(f"No such container: {key}", hint="'minidocker ps -a' lists containers")


def _pick(words) -> str:
    return words[int.from_bytes(os.urandom(4), "little") % len(words)]


def _random_name(taken: set[str]) -> str:
    for _ in range(100):
        n = f"{_pick(params.NAME_LEFT)}_{_pick(params.NAME_RIGHT)}"
        if n not in taken:
            return n
    return f"ctr_{os.urandom(4).hex()}"


def check_name_free(name: str) -> None:
    """Conflict if a container already has this name (new_record re-checks under the lock)."""
    other = next((c for c in list_all() if c.name == name), None)
    if other is not None:
        raise Conflict(f'the container name "/{name}" is already in use by container "{other.id}"',
                       hint="remove (or rename) that container to reuse the name, or pick another --name")


def new_record(config: ContainerConfig, name: str | None) -> Container:
    """Allocate an id and a unique name and write config.json, all under one lock.

    A config without a hostname gets docker's default, the short id.

    The directory is created under a temporary name and renamed into place
    once config.json is complete, so a crash never leaves a half record.
    """
    if name:
        name = check_name(name)
    d = containers_dir()
    os.makedirs(d, exist_ok=True)
    with state.lock("containers"):
        taken = {c.name for c in list_all()}
        if name:
            check_name_free(name)
        cid = os.urandom(params.ID_BYTES).hex()
        if not config.hostname:    # docker's default hostname is the short container id
            from ..plaindata import replace
            config = replace(config, hostname=cid[:12])
        c = Container(id=cid, name=name or _random_name(taken), created=now_iso(), config=config)
        tmp = os.path.join(d, f".new-{cid}")
        os.makedirs(tmp)
        try:
            state.write_json(os.path.join(tmp, "config.json"),
                             {"Id": cid, "Name": c.name, "Created": c.created, "Config": config.to_dict()})
            state.write_json(os.path.join(tmp, "state.json"), c.state_doc())
            for sub in ("upper", "work", "merged"):
                os.makedirs(os.path.join(tmp, sub))
            os.rename(tmp, c.dir)
        except BaseException:
            state.remove_tree(tmp)
            raise
    return c


class locked:
    """`with locked(c) as c:` holds the container's lock, gives a freshly loaded
    record, and saves it on a normal exit (not when the block raised).

    A class rather than @contextlib.contextmanager: see state.lock.
    """

    def __init__(self, c: Container):
        self.c, self._lock = c, state.lock(f"ctr-{c.id}")

    def __enter__(self) -> Container:
        self._lock.__enter__()
        try:
            self.c.reload()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self.c

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.c.save_state()
        finally:
            self._lock.__exit__(exc_type, exc, tb)


def update_state(c: Container, **changes: Any) -> Container:
    """Atomically merge `changes` into State (keys like Status, Pid) under the lock."""
    with locked(c):
        c.state.update(changes)
    return c


def delete_record(c: Container) -> None:
    """Remove the record's directory. Rename first, so a crash mid-rmtree leaves no live-looking record."""
    grave = os.path.join(containers_dir(), f".rm-{c.id}")
    try:
        os.rename(c.dir, grave)
    except FileNotFoundError:
        pass
    state.remove_tree(grave)

