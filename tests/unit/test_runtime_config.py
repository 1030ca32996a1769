"""Run-flag parsing and docker's CMD/ENTRYPOINT rule (no root needed)."""
import pytest

from minidocker.errors import UsageError
from minidocker.runtime.config import (ContainerConfig, Mount, RestartPolicy, effective_command, parse_env,
                                       parse_restart, parse_tmpfs, parse_volume)


@pytest.mark.parametrize("ep,cmd,args,override,want", [
    (None, ["sh"], [], None, ["sh"]),
    (None, ["sh"], ["echo", "hi"], None, ["echo", "hi"]),
    (["/bin/echo"], ["hello"], [], None, ["/bin/echo", "hello"]),
    (["/bin/echo"], ["hello"], ["bye"], None, ["/bin/echo", "bye"]),
    (["/bin/echo"], ["hello"], [], "ls", ["ls"]),          # --entrypoint drops the image CMD
    (["/bin/echo"], ["hello"], ["-l"], "ls", ["ls", "-l"]),
])
def test_effective_command(ep, cmd, args, override, want):
    assert effective_command(ep, cmd, args, override) == want


def test_effective_command_empty_is_an_error():
    with pytest.raises(UsageError, match="no command"):
        effective_command(["/bin/echo"], ["hello"], [], "")     # --entrypoint "" and no command


def test_env_merge_order(tmp_path, monkeypatch):
    f = tmp_path / "env"
    f.write_text("# comment\nA=file\nB=file\n")
    monkeypatch.setenv("FROM_HOST", "yes")
    env = parse_env(["B=flag", "FROM_HOST", "MISSING_ONE"], [str(f)], ["PATH=/bin", "A=image"])
    assert env == ["PATH=/bin", "A=file", "B=flag", "FROM_HOST=yes"]


def test_env_bad():
    with pytest.raises(UsageError):
        parse_env(["=x"], [], [])
    with pytest.raises(UsageError, match="env-file"):
        parse_env([], ["/nonexistent/file"], [])


def test_volume_specs(tmp_path):
    m = parse_volume(f"{tmp_path}:/data:ro")
    assert m == Mount("bind", str(tmp_path), "/data", True)
    assert parse_volume("mydata:/var/lib/mysql") == Mount("volume", "mydata", "/var/lib/mysql", False)
    for bad in ["/only", "a:relative", "x:/y:rx", "bad name:/x", "a:/b:ro:extra"]:
        with pytest.raises(UsageError):
            parse_volume(bad)
    assert parse_tmpfs("/run:size=1m") == Mount("tmpfs", "", "/run", False, "size=1m")


def test_restart_policy():
    assert parse_restart("on-failure:3") == RestartPolicy("on-failure", 3)
    for bad in ["sometimes", "always:3", "on-failure:x"]:
        with pytest.raises(UsageError):
            parse_restart(bad)
    p = RestartPolicy("on-failure", 2)
    assert p.should_restart(1, 0, False) and p.should_restart(1, 1, False)
    assert not p.should_restart(1, 2, False) and not p.should_restart(0, 0, False)
    assert not RestartPolicy("always").should_restart(0, 5, True)   # stop wins
    assert RestartPolicy("always").should_restart(0, 5, False)


def test_config_roundtrip():
    c = ContainerConfig(image="busybox", argv=("sh",), mounts=(Mount("tmpfs", "", "/t"),),
                        restart=RestartPolicy("always"), env=("A=1",))
    assert ContainerConfig.from_dict(c.to_dict()) == c
