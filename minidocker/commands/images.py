"""Image verbs: images, tag, rmi, image prune/ls/rm/inspect, history, save, load, import,
and the container-side ones that make images: diff, commit, export.

Output copies docker's: the same columns, sizes in kB/MB (powers of 1000),
"2 hours ago" ages, "Untagged:/Deleted:" lines.
"""
from __future__ import annotations

from . import failed, print_inspect

import datetime as _dt
import os
import sys

from ..errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("images", help="list images")
    _ls_flags(p)
    p = sub.add_parser("image", help="manage images (ls, rm, prune, tag, history, inspect, save, load, import)")
    im = p.add_subparsers(dest="image_cmd", metavar="COMMAND")
    _ls_flags(im.add_parser("ls", help="list images"))

    for parent in (sub, im):
        t = parent.add_parser("tag", help="give an image another name: tag SOURCE TARGET")
        t.add_argument("source")
        t.add_argument("target")
        t.set_defaults(func=cmd_tag)
        h = parent.add_parser("history", help="show the history of an image")
        h.add_argument("--no-trunc", action="store_true", help="do not shorten the output")
        h.add_argument("-q", "--quiet", action="store_true", help="only image ids")
        h.add_argument("image")
        h.set_defaults(func=cmd_history)
        s = parent.add_parser("save", help="write images to a tar (docker save format)")
        s.add_argument("-o", "--output", help="file to write (default: stdout)")
        s.add_argument("images", nargs="+")
        s.set_defaults(func=cmd_save)
        ld = parent.add_parser("load", help="load images from a tar made by docker/minidocker save")
        ld.add_argument("-i", "--input", help="file to read (default: stdin)")
        ld.add_argument("-q", "--quiet", action="store_true")
        ld.set_defaults(func=cmd_load)
        ip = parent.add_parser("import", help="make a one-layer image from a filesystem tarball")
        ip.add_argument("-c", "--change", action="append", default=[], help="Dockerfile line: CMD, ENV, ...")
        ip.add_argument("-m", "--message", default="", help="commit message")
        ip.add_argument("file", help="tarball path, or - for stdin")
        ip.add_argument("ref", nargs="?")
        ip.set_defaults(func=cmd_import)

    r = sub.add_parser("rmi", help="remove images")
    _rm_flags(r)
    _rm_flags(im.add_parser("rm", help="remove images"))
    pr = im.add_parser("prune", help="remove unused images")
    pr.add_argument("-a", "--all", action="store_true", help="all images without containers, not just dangling")
    pr.add_argument("-f", "--force", action="store_true", help="do not ask")
    pr.set_defaults(func=cmd_prune)
    ins = im.add_parser("inspect", help="show an image's details as JSON")
    ins.add_argument("-f", "--format")
    ins.add_argument("images", nargs="+")
    ins.set_defaults(func=cmd_inspect)

    d = sub.add_parser("diff", help="list the files a container changed (A/C/D)")
    d.add_argument("container")
    d.set_defaults(func=cmd_diff)
    c = sub.add_parser("commit", help="make an image from a container's changes")
    c.add_argument("-m", "--message", default="")
    c.add_argument("-a", "--author", default="")
    c.add_argument("-c", "--change", action="append", default=[], help="Dockerfile line: CMD, ENV, ...")
    c.add_argument("-p", "--pause", action="store_true", default=True, help="(accepted for docker compatibility)")
    c.add_argument("container")
    c.add_argument("ref", nargs="?")
    c.set_defaults(func=cmd_commit)
    e = sub.add_parser("export", help="write a container's filesystem as a tar")
    e.add_argument("-o", "--output", help="file to write (default: stdout)")
    e.add_argument("container")
    e.set_defaults(func=cmd_export)


def _ls_flags(p) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show intermediate images too")
    p.add_argument("-q", "--quiet", action="store_true", help="only image ids")
    p.add_argument("--no-trunc", action="store_true", help="full image ids")
    p.add_argument("--digests", action="store_true", help="show manifest digests")
    p.add_argument("--format", help="Go template, e.g. '{{.Repository}}:{{.Tag}}'")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="dangling=true|false, or reference=REPO[:TAG] (fnmatch patterns allowed)")
    p.add_argument("repository", nargs="?", help="only this repository[:tag]")
    p.set_defaults(func=cmd_images)


def _rm_flags(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="remove even with several tags or containers")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=cmd_rmi)


# --- formatting, as docker's go-units ---------------------------------------------

def human_size(n: float) -> str:
    """docker's HumanSizeWithPrecision(n, 3): 1982357 -> '1.98MB' (powers of 1000)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.3g}{units[i]}"


def human_duration(seconds: float) -> str:
    """docker's HumanDuration: 'About a minute', '3 hours', '2 weeks', '2 years'."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return "1 second" if int(seconds) == 1 else f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def since(iso: str) -> str:
    if not iso:
        return "N/A"
    try:
        t = _dt.datetime.fromisoformat(iso.rstrip("Z")[:26]).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return "N/A"
    return human_duration((_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()) + " ago"


def _table(cols: list[tuple[str, str]], rows: list[dict]) -> None:
    widths = [max([len(h)] + [len(str(r[k])) for r in rows]) for h, k in cols]
    for vals in [[h for h, _ in cols]] + [[r[k] for _, k in cols] for r in rows]:
        print("   ".join(str(v).ljust(w) for v, w in zip(vals, widths)).rstrip())


# --- handlers ------------------------------------------------------------------------

def cmd_images(args) -> int:
    from ..image import reference
    from ..image.store import Store
    import fnmatch
    want = reference.parse(args.repository, default_tag=False) if args.repository else None
    filters = _filters(args.filter)
    rows = []
    for img in Store().images(all=args.all):
        if "dangling" in filters and (not img.repo_tags) != (filters["dangling"] == "true"):
            continue
        iid = img.id if args.no_trunc else img.short_id
        names = [reference.parse(t) for t in img.repo_tags] or [None]
        for ref in names:
            if want and (ref is None or ref.name != want.name or (want.tag and ref.tag != want.tag)):
                continue
            pattern = filters.get("reference")
            if pattern and (ref is None or not (fnmatch.fnmatch(ref.familiar(), pattern)
                                                or fnmatch.fnmatch(ref.familiar_name(), pattern))):
                continue
            rows.append({"Repository": ref.familiar_name() if ref else "<none>",
                         "Tag": ref.tag if ref else "<none>", "ID": iid,
                         "Digest": img.manifest_digest if args.digests else "",
                         "CreatedSince": since(img.created), "CreatedAt": img.created,
                         "Size": human_size(img.size)})
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    if args.format:
        from ..template import render
        for r in rows:
            print(render(args.format, r))
        return 0
    cols = [("REPOSITORY", "Repository"), ("TAG", "Tag")] + ([("DIGEST", "Digest")] if args.digests else []) \
        + [("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")]
    _table(cols, rows)
    return 0


def _filters(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("dangling", "reference"):
            raise UsageError(f"invalid filter {item!r}", hint="use dangling=true|false or reference=PATTERN")
        if key == "dangling" and value not in ("true", "false"):
            raise UsageError(f"invalid filter {item!r}: dangling is true or false")
        out[key] = value
    return out


def cmd_tag(args) -> int:
    from ..image.store import Store
    Store().tag(args.source, args.target)
    return 0


def cmd_rmi(args) -> int:
    from ..errors import MinidockerError
    from ..image.store import Store
    store, rc = Store(), 0
    for name in args.images:
        try:
            for line in store.remove(name, force=args.force):
                print(line)
        except MinidockerError as e:
            sys.stderr.write(f"Error response from daemon: {e.message}\n")
            if e.hint:
                sys.stderr.write(f"hint: {e.hint}\n")
            rc = failed(e, len(args.images))
    return rc


def cmd_prune(args) -> int:
    from ..image.store import Store
    if not args.force:
        what = "all images without at least one container associated to them" if args.all \
            else "all dangling images"
        sys.stdout.write(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    lines, reclaimed = Store().prune(all=args.all)
    if lines:
        print("Deleted Images:")
        for line in lines:
            print(line)
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def cmd_inspect(args) -> int:
    from ..image.store import Store
    return print_inspect(args.images, Store().inspect, args.format)


def cmd_history(args) -> int:
    from ..image.store import Store
    store = Store()
    img = store.resolve(args.image)
    sizes = [store.layer_size(d) for d in img.diff_ids]
    rows, layer = [], 0
    for h in img.history:
        size = 0
        if not h.get("empty_layer"):
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        by = (h.get("created_by") or "").replace("\t", " ").replace("\n", " ")
        if not args.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        rows.append({"ID": "<missing>", "CreatedSince": since(h.get("created", "")), "CreatedBy": by,
                     "Size": human_size(size), "Comment": h.get("comment", "")})
    rows.reverse()
    if rows:
        rows[0]["ID"] = img.id if args.no_trunc else img.short_id
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    _table([("IMAGE", "ID"), ("CREATED", "CreatedSince"), ("CREATED BY", "CreatedBy"),
            ("SIZE", "Size"), ("COMMENT", "Comment")], rows)
    return 0


def _output(path: str | None):
    """The file to write, or stdout (refused when it is a terminal, as docker does)."""
    if path:
        return open(path, "wb")
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal",
                         hint="use -o FILE or redirect stdout")
    sys.stdout.flush()
    return os.fdopen(os.dup(sys.stdout.fileno()), "wb")


def cmd_save(args) -> int:
    from ..image import archive
    from ..image.store import Store
    store = Store()
    for name in args.images:       # fail before creating the file
        store.resolve(name)
    out = _output(args.output)
    try:
        archive.save(args.images, out, store)
    except BaseException:
        out.close()
        if args.output:
            os.unlink(args.output)
        raise
    out.close()
    return 0


def cmd_load(args) -> int:
    from ..image import archive
    if args.input:
        if not os.path.exists(args.input):
            raise UsageError(f"open {args.input}: no such file", hint="give the path of a saved image tar")
        lines = archive.load(args.input)
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty",
                             hint="use -i FILE or pipe a tar: minidocker load < image.tar")
        lines = archive.load(sys.stdin.buffer)
    if not args.quiet:
        for line in lines:
            print(line)
    return 0


def cmd_import(args) -> int:
    from ..image import archive
    if args.file == "-":
        src = sys.stdin.buffer
    else:
        if not os.path.exists(args.file):
            raise UsageError(f"open {args.file}: no such file", hint="give a tarball path, or - for stdin")
        src = open(args.file, "rb")
    with src:
        img = archive.import_tarball(src, args.ref, args.change, args.message, source=args.file)
    print(img.id)
    return 0


def _container(name: str):
    from ..runtime.container import lookup
    return lookup(name)


def cmd_diff(args) -> int:
    from ..image.diff import changes
    from ..image.store import Store
    c = _container(args.container)
    img = Store().resolve(c.config.image_id or c.config.image)
    if not os.path.isdir(c.upper_dir):
        return 0
    for kind, path in changes(c.upper_dir, img.layer_dirs):
        print(f"{kind} {path}")
    return 0


def cmd_commit(args) -> int:
    from ..errors import need_root
    from ..image.diff import commit
    need_root()   # the upper dir holds root-owned files and whiteout devices
    c = _container(args.container)
    img = commit(c, args.ref, message=args.message, author=args.author, changes_=args.change)
    print(img.id)
    return 0


def cmd_export(args) -> int:
    from ..errors import need_root
    from ..image import archive
    need_root()
    c = _container(args.container)
    out = _output(args.output)
    try:
        archive.export_container(c, out)
    except BaseException:
        out.close()
        if args.output:
            os.unlink(args.output)
        raise
    out.close()
    return 0
