"""The build context: .dockerignore rules, COPY source matching, the content hash (no root)."""
from __future__ import annotations

import os

import pytest

from minidocker.errors import BuildError
from minidocker.image.buildcontext import Context, content_hash, human_size, pattern_regex
from minidocker.image.dockerfile import parse


@pytest.mark.parametrize("pattern, path, hit", [
    ("*.log", "a.log", True), ("*.log", "dir/a.log", False), ("**/*.log", "dir/sub/a.log", True),
    ("**/*.log", "a.log", True), ("dir/*", "dir/x", True), ("dir/*", "dir/x/y", False),
    ("?.txt", "a.txt", True), ("?.txt", "ab.txt", False), ("[ab].txt", "b.txt", True),
    ("[^ab].txt", "c.txt", True), ("[^ab].txt", "a.txt", False), ("node_modules", "node_modules", True),
])
def test_pattern(pattern, path, hit):
    assert bool(pattern_regex(pattern).match(path)) is hit


@pytest.fixture
def ctx(tmp_path):
    for rel, text in {"app.py": "print(1)\n", "README.md": "doc", "docs/guide.md": "g",
                      "docs/keep.md": "k", "build/out.bin": "b", "logs/x.log": "l"}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / ".dockerignore").write_text("# comment\n\n*.md\ndocs\n!docs/keep.md\nbuild/\n**/*.log\n")
    return tmp_path


def test_dockerignore_rules(ctx):
    c = Context(str(ctx))
    assert c.ignored("README.md") and c.ignored("docs/guide.md") and c.ignored("build/out.bin")
    assert c.ignored("logs/x.log") and not c.ignored("docs/keep.md") and not c.ignored("app.py")
    assert "app.py" in c.files() and "docs/keep.md" in c.files() and "README.md" not in c.files()


def _ins(line="COPY x /"):
    return parse("FROM busybox\n" + line, "Dockerfile").stages[0].instructions[0]


def test_match_sources(ctx):
    c = Context(str(ctx))
    assert c.match("app.py", _ins()) == ["app.py"]
    assert c.match("*.py", _ins()) == ["app.py"]
    assert c.match("/app.py", _ins()) == ["app.py"]       # absolute means "from the context root"
    with pytest.raises(BuildError, match=r"^Dockerfile:2: COPY: source 'nope' not found"):
        c.match("nope", _ins())
    with pytest.raises(BuildError, match="outside the build context"):
        c.match("../etc/passwd", _ins())
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        c.match("README.md", _ins())
    os.symlink("/etc", ctx / "escape")
    with pytest.raises(BuildError, match="outside the build context"):
        c.match("escape", _ins())


def test_content_hash_ignores_mtime_not_content_or_mode(ctx):
    c = Context(str(ctx))
    h1 = content_hash(c.root, ["app.py", "docs"], c.ignored)
    os.utime(ctx / "app.py", (1, 1))
    assert content_hash(c.root, ["app.py", "docs"], c.ignored) == h1
    (ctx / "docs" / "guide.md").write_text("ignored file changed")     # excluded: no effect
    assert content_hash(c.root, ["app.py", "docs"], c.ignored) == h1
    os.chmod(ctx / "app.py", 0o755)
    h2 = content_hash(c.root, ["app.py", "docs"], c.ignored)
    assert h2 != h1
    (ctx / "app.py").write_text("print(2)\n")
    assert content_hash(c.root, ["app.py", "docs"], c.ignored) not in (h1, h2)


def test_context_must_be_a_directory(tmp_path):
    with pytest.raises(BuildError, match="not a directory"):
        Context(str(tmp_path / "missing"))


def test_human_size():
    assert human_size(2048) == "2.048kB" and human_size(999) == "999B" and human_size(1_500_000) == "1.5MB"
