"""The official frames of a dataset, fetched, verified and unpacked into the cache.

Public API::

    tree = frames("ped1")                  # FrameTree: the unpacked official archive
    test, train = tree.test, tree.train     # UCSDped1/Test, UCSDped1/Train (paths for open_source)
    test, train = sources("ped1")           # the same two paths in one call

Cache layout: ``<cache>/frames/<name>/<archive>`` (each archive as published, verified and
kept, so the tree can be rebuilt offline) and ``<cache>/frames/<name>/tree/`` (the files the
layout keeps, :mod:`.layouts`), with ``tree/.anomaly-ref-tree.json`` naming the archives'
sha256 it was unpacked from. A mirror serves ``<mirror>/frames/<archive name>``.

The same path as the features (:mod:`.fetch`): download through pooch (bounded, retried) or a
local copy (``--from``: an archive, a folder holding the archives, or the unpacked folder)
into a work folder under ``<cache>/.tmp``; each archive verified (sha256 if pinned, else its
first-use record, :mod:`.tofu`); every archive unpacked trusting nothing (:mod:`.archive`);
the layout checked; then the archives and the tree renamed into place, all or nothing, under
the artifact's lock. An archive that fails to verify or unpack is moved to ``.rejected/``;
nothing is installed and nothing already installed is touched. A fetch that is interrupted
starts its download over (pooch does not resume), but an archive already verified in the
cache is never downloaded again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import registry
from ..errors import FetchError
from ..fileio import atomic_write_text
from . import archive, download, manifest as mf
from .fetch import Options, _artifact_lock, _cached_check, _workdir, options
from .fetch import _reject as reject
from .integrity import MAX_ARCHIVE_BYTES, MISSING, OK, UNPINNED, Check, mirror_url
from .layouts import Layout, get_layout, tree_files
from .manifest import Artifact, Manifest, Member
from .tofu import TOFU_NAME, FirstUse
from .unpack import open_nofollow

log = logging.getLogger(__name__)

TREE = "tree"
MARKER = ".anomaly-ref-tree.json"  # written last, inside the tree: its presence means the tree is whole


@dataclass(frozen=True)
class FrameTree:
    """An unpacked official archive in the cache, and where one dataset's frames are in it."""

    dataset: str
    artifact: str  # manifest id, e.g. "frames/ucsd"
    root: Path  # the tree
    layout: Layout = field(repr=False)
    origin: str = ""  # "already in the cache", "downloaded from <url>", "copied from <path>"

    @property
    def test(self) -> Path:
        """The test frames (a folder :func:`anomaly_ref.frames.sources.open_source` reads)."""
        return (self.root / self.layout.sources[self.dataset][0]).resolve()

    @property
    def train(self) -> Path | None:
        """The normal training frames, or None (UMN has none)."""
        rel = self.layout.sources[self.dataset][1]
        return (self.root / rel).resolve() if rel else None


def frames(dataset: str, *, cache=None, mirror: str | None = None, offline: bool | None = None,
           require_pinned: bool | None = None, manifest: str | os.PathLike | Manifest | None = None,
           source: str | os.PathLike | None = None, **kwargs) -> FrameTree:
    """The official frames of ``dataset``, fetched and unpacked if needed (see the module doc).

    ``source``: a local copy (``fetch --from``). ``kwargs``: ``retries``, ``timeout``, ``progress``.
    """
    registry.get_dataset(dataset)
    art = mf.load(manifest).frames(dataset)
    opts = options(cache, mirror, offline, require_pinned, **kwargs)
    return get_tree(art, dataset, opts, Path(source).expanduser() if source is not None else None)


def sources(dataset: str, **kwargs) -> tuple[Path, Path | None]:
    """``(test frames, training frames or None)`` of ``dataset`` from its official archive."""
    tree = frames(dataset, **kwargs)
    return tree.test, tree.train


def get_tree(art: Artifact, dataset: str, opts: Options, source: Path | None = None) -> FrameTree:
    layout = get_layout(art.layout)
    dest = opts.cache / art.id
    tree = dest / TREE
    if source is not None and not source.exists():
        raise FetchError(f"{source}: no such file or folder (--from); nothing was installed")
    if source is None and opts.from_root is not None and any((opts.from_root / m.name).is_file() for m in art.members):
        source = opts.from_root  # $ANOMALY_REF_FROM holds the archives
    unpinned = [m.name for m in art.members if m.sha256 is None]
    if opts.require_pinned and unpinned:
        raise FetchError(f"{art.id}: {', '.join(unpinned)} not pinned (sha256 null in the manifest) and pinned "
                         "members are required (--require-pinned); nothing was fetched or handed out. Fetch without "
                         "that option, check the archives, then run 'anomaly-ref manifest pin'")
    with _artifact_lock(opts.cache, art.id):
        tofu = FirstUse.load(dest / TOFU_NAME)
        if _tree_ok(tree, art, tofu):
            return FrameTree(dataset, art.id, tree, layout, "already in the cache")
        if source is not None and source.is_dir() and not any((source / m.name).is_file() for m in art.members):
            return _install_unpacked(art, dataset, layout, source, opts, tree)
        cached = {m.name: _cached_check(dest / m.name, m, opts.cache, tofu) for m in art.members}
        todo = [m for m in art.members if cached[m.name].status == MISSING]
        if todo and opts.offline and source is None:
            raise FetchError(
                f"{art.id}: offline and {len(todo)} archive(s) missing from the cache: "
                f"{'; '.join(str(dest / m.name) for m in todo)}. Run without --offline (or with --mirror URL) where "
                "the network is reachable, or install a local copy (fetch --only frames --from PATH)"
            )
        with _workdir(opts.cache, art.id) as work:
            staged, origin = _stage(art, todo, source, work, opts)
            checks = dict(cached)
            good: list[Member] = []  # staged archives that verified: kept in the cache whatever happens next
            try:
                for m in todo:
                    checks[m.name] = _verify_staged(art, m, staged[m.name], opts, tofu)
                    good.append(m)
                writer = archive.TreeWriter(work / TREE, layout)
                for m in art.members:
                    try:
                        archive.unpack(staged.get(m.name, dest / m.name), m.name, writer)
                    except archive.WriteFailed:
                        raise  # our disk, not the archive: nothing is rejected
                    except FetchError as exc:
                        good = [g for g in good if g is not m]
                        raise FetchError(f"{exc}{_reject_archives(art, [m], staged, dest, opts, tofu)}") from None
                files = sorted(writer.written)
                owed = {a for _, a in layout.missing(files)}
                if owed:  # the archive(s) that should have supplied what is missing are to blame
                    blamed = [m for m in art.members if m.name in owed or None in owed]
                    good = [g for g in good if g not in blamed]
                    try:
                        layout.check(files, f"{art.id} ({', '.join(m.name for m in blamed)})")
                    except FetchError as exc:
                        raise FetchError(f"{exc}{_reject_archives(art, blamed, staged, dest, opts, tofu)}") from None
            finally:
                # Verified downloads are never thrown away (a sibling's failure, a full disk); every
                # archive in the cache, new or old, gets its first-use record if it lacks one.
                _install_archives(good, staged, checks, dest, tofu)
            digests = {m.name: checks[m.name].sha256 for m in art.members}
            _write_marker(work / TREE, art, digests, files, origin)
            _replace_tree(work / TREE, tree, work, layout)
        log.info("%s: %d file(s) unpacked into %s", art.id, len(files), tree)
        return FrameTree(dataset, art.id, tree, layout, origin)


def _install_archives(good: list[Member], staged: dict[str, Path], checks: dict[str, Check], dest: Path,
                      tofu: FirstUse) -> None:
    """Rename the verified staged archives ``good`` into the cache; record every unpinned archive
    now in the cache that has no first-use record yet (a record lost in a crash is made again)."""
    dest.mkdir(parents=True, exist_ok=True)
    for m in good:
        if staged[m.name].exists():
            os.replace(staged[m.name], dest / m.name)
            checks[m.name] = replace(checks[m.name], path=dest / m.name)
    tofu.record({name: c for name, c in checks.items() if c.path.parent == dest and c.path.exists()})


def _reject_archives(art: Artifact, members: list[Member], staged: dict[str, Path], dest: Path, opts: Options,
            tofu: FirstUse) -> str:
    """Move the archives that failed to unpack to ``.rejected/`` (a cached copy too, its first-use
    record forgotten: it was trusted and is bad); the text naming where they are kept."""
    kept = []
    for m in members:
        path = staged.get(m.name, dest / m.name)
        kept.append(str(reject(path, opts.cache, Path(art.id, m.name))))
        if m.name not in staged:
            tofu.forget(m.name)
    return f" (the archive is kept in {', '.join(kept)})" if len(kept) == 1 else f" (the archives are kept in {', '.join(kept)})"


def _stage(art: Artifact, todo: list[Member], source: Path | None, work: Path,
           opts: Options) -> tuple[dict[str, Path], str]:
    """The archives ``todo`` lacks, downloaded or copied into ``work``: ``({name: path}, origin)``."""
    if not todo:
        return {}, "already in the cache (unpacked again)"
    if source is None:
        staged, origins = {}, []
        for m in todo:
            # a mirror serves every frame archive under <mirror>/frames/<name>
            url = mirror_url(opts.mirror, "frames", m.name) if opts.mirror else art.member_url(m)
            # no sha256 to pooch: it would retry and delete a mismatch; _verify_staged keeps it in .rejected/
            staged[m.name] = download.get(url, work / m.name, None, _bound(m), retries=opts.retries,
                                          timeout=opts.timeout, progress=opts.progress)
            origins.append(url)
        return staged, "downloaded from " + ", ".join(origins)
    if source.is_file():
        match = [m for m in art.members if m.name == source.name]
        if not match and len(art.members) == 1 and archive.kind_of(source.name) == archive.kind_of(art.members[0].name):
            match = [art.members[0]]  # the one archive, saved under another name
        if not match:
            raise FetchError(f"--from {source}: expected one of {', '.join(m.name for m in art.members)} (the "
                             f"archive(s) of {art.id}), or the folder they unpack to; nothing was installed")
        files = {match[0].name: source}
    else:
        files = {m.name: source / m.name for m in art.members if (source / m.name).is_file()}
    lacking = [m.name for m in todo if m.name not in files]
    if lacking:
        raise FetchError(f"--from {source}: holds no {', '.join(lacking)} (also needed for {art.id}, and not in the "
                         "cache); give a folder holding every archive; nothing was installed")
    return {m.name: _copy(files[m.name], work / m.name, m) for m in todo}, f"copied from {source}"


def _bound(m: Member) -> tuple[int, str]:
    if m.size is not None:
        return m.size, "its pinned size"
    return MAX_ARCHIVE_BYTES, "the limit for one frame archive of unknown size"


def _copy(path: Path, target: Path, m: Member) -> Path:
    """A local archive copied into the work folder: bounded, never through a symbolic link."""
    bound = _bound(m)
    path = path.resolve()  # the user named it: a link to the archive is followed here, never once opened
    with open_nofollow(path) as fin, open(target, "xb") as fout:
        n = 0
        while chunk := fin.read(1 << 20):
            n += len(chunk)
            if n > bound[0]:
                raise FetchError(f"{path}: more than the {bound[0]} bytes allowed ({bound[1]}); nothing was installed")
            fout.write(chunk)
    return target


def _verify_staged(art: Artifact, m: Member, path: Path, opts: Options, tofu: FirstUse) -> Check:
    check = tofu.check(path, m)
    if check.status in (OK, UNPINNED):
        if check.status == UNPINNED:
            log.warning("%s/%s is not pinned in the manifest; sha256 %s (record it with 'anomaly-ref manifest pin')",
                        art.id, m.name, check.sha256)
        return check
    kept = reject(path, opts.cache, Path(art.id, m.name))
    raise FetchError(f"{art.id}/{m.name}: fails verification: {check.detail}. Nothing was installed (the copy is "
                     f"kept in {kept}). If the source changed on purpose, fix data_manifest.json; otherwise fetch "
                     "it again (or use --mirror)")


def _install_unpacked(art: Artifact, dataset: str, layout: Layout, source: Path, opts: Options, tree: Path) -> FrameTree:
    """``--from FOLDER`` holding the archive's files already unpacked: copied with the same checks."""
    with _workdir(opts.cache, art.id) as work:
        files = archive.copy_tree(source, layout, work / TREE)
        layout.check(files, str(source))
        origin = f"copied from {source} (unpacked)"
        _write_marker(work / TREE, art, {}, files, origin)
        _replace_tree(work / TREE, tree, work, layout)
    return FrameTree(dataset, art.id, tree, layout, origin)


def _write_marker(tree: Path, art: Artifact, digests: dict[str, str | None], files: list[str], origin: str) -> None:
    sizes = {f: (tree / f).stat().st_size for f in sorted(files)}
    doc = {"artifact": art.id, "layout": art.layout, "archives": digests, "files": len(files),
           "bytes": sum(sizes.values()), "sizes": sizes, "origin": origin,
           "unpacked": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(tree / MARKER, json.dumps(doc, indent=2) + "\n")


def _replace_tree(new: Path, tree: Path, work: Path, layout: Layout) -> None:
    """Rename the finished tree into place. An earlier one is moved aside first; files of yours in
    it that are not the layout's (UMN's frame_ranges.csv) are carried over into the new one."""
    tree.parent.mkdir(parents=True, exist_ok=True)
    if tree.exists():
        for rel in tree_files(tree):
            if layout.target(rel) is None and not (new / rel).exists():
                (new / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tree / rel, new / rel)
                log.info("kept %s (not a file of the %s layout) in the new tree", rel, layout.name)
        os.replace(tree, work / "stale-tree")
    os.replace(new, tree)


def _tree_ok(tree: Path, art: Artifact, tofu: FirstUse) -> bool:
    """The tree is whole (its marker present, every file of the layout there with its recorded size)
    and was unpacked from the archives the manifest pins (or, unpinned, their first-use records)."""
    try:
        doc = json.loads((tree / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not doc.get("archives") and any(m.sha256 for m in art.members):
        log.warning("%s was copied from an unpacked folder, and the manifest now pins the archives; unpacking again "
                    "from them", tree)
        return False
    for m in art.members:
        want = m.sha256 or tofu.records.get(m.name, {}).get("sha256")
        got = doc.get("archives", {}).get(m.name)
        if doc.get("archives") and want is not None and got != want:
            log.warning("%s was unpacked from another %s (sha256 %s, expected %s); unpacking again", tree, m.name,
                        got, want)
            return False
    layout = get_layout(art.layout)
    kept = [f for f in tree_files(tree) if layout.target(f) is not None]  # a user's own files (UMN's ranges) aside
    sizes = {f: (tree / f).stat().st_size for f in kept}
    if sizes != doc.get("sizes"):  # a file added, removed, truncated or grown since it was unpacked
        changed = sorted(set(sizes.items()) ^ set((doc.get("sizes") or {}).items()))
        log.warning("%s: %d file(s) differ from its record (first: %s); unpacking again", tree, len(changed),
                    changed[0][0] if changed else "the record")
        return False
    return True
