"""Unpack an official frame archive into a tree, trusting none of it.

Every entry is judged before anything of it is written: a link (symbolic or hard), a
device or FIFO, an absolute path, a ``..`` component or an encrypted zip entry refuses the
whole archive; tar entries also pass :func:`tarfile.data_filter` (Python's ``data``
extraction filter). Only entries a :class:`~anomaly_ref.data.layouts.Layout` rule keeps for
that archive are written, under the rule's tree path, each bounded by its rule's size (and
starting with its rule's magic bytes), all of a dataset's archives together by
:data:`~anomaly_ref.data.layouts.MAX_TREE_BYTES` and :data:`~anomaly_ref.data.layouts.MAX_ENTRIES`
(one :class:`TreeWriter` for them all, so no tree path is written twice). A truncated gzip or zip, or a file that is
no archive at all, is one :class:`FetchError`. The caller unpacks into a work folder and
discards it on any error, so nothing half-unpacked is ever installed.

Tar archives are read as a stream (``r|*``): a multi-gigabyte ``.tar.gz`` is unpacked in
one pass without seeking.
"""

from __future__ import annotations

import gzip
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from ..errors import FetchError
from .layouts import MAX_ENTRIES, MAX_TREE_BYTES, Layout, Rule
from .unpack import CHUNK, ZIP_ERRORS, open_nofollow, regular_files, unreadable, unsafe_path, unsafe_reason

TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError, ValueError)


class WriteFailed(FetchError):
    """Our side failed (disk full, permissions) while unpacking: the archive is not to blame."""


def kind_of(name: str) -> str:
    """``"tar"``, ``"zip"`` or ``"file"`` (a member installed as it is, e.g. UMN's video)."""
    lower = name.lower()
    if lower.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    return "zip" if lower.endswith(".zip") else "file"


def _refuse(src: str, entry: str, why: str) -> FetchError:
    return FetchError(
        f"{src}: entry {entry!r} {why}; refusing the whole archive (nothing was installed). It is not the "
        "official archive: fetch it again, use --mirror, or check the file given with --from"
    )


class TreeWriter:
    """Writes the kept entries of one dataset's archives under ``out``: each bounded by its
    rule (and its rule's magic bytes checked), all within one budget, no tree path twice."""

    def __init__(self, out: Path, layout: Layout) -> None:
        self.out, self.layout = out, layout
        self.left = MAX_TREE_BYTES
        self.written: dict[str, str] = {}  # tree path -> "<archive>: <entry>" it came from
        self.entries = 0
        self.src = ""  # the archive being unpacked, for error lines

    def count(self, name: str) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise _refuse(self.src, name, f"is one entry more than the {MAX_ENTRIES} a dataset's archives may list")

    def target(self, name: str, declared: int | None, archive: str | None) -> tuple[Path, Rule] | None:
        hit = self.layout.rule(name, archive)
        if hit is None:
            return None
        rel, rule = hit
        if rel in self.written:
            raise _refuse(self.src, name, f"lands on {rel!r} as {self.written[rel]!r} does (a duplicate)")
        if declared is not None and declared > rule.max_bytes:
            raise _refuse(self.src, name, f"declares {declared} bytes, more than the {rule.max_bytes} allowed for "
                                          "such a file")
        self.written[rel] = f"{self.src}: {name}"
        return self.out / rel, rule

    def copy(self, read: Callable[[int], bytes], path: Path, rule: Rule, name: str) -> None:
        n, bound = 0, rule.max_bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fout = open(path, "xb")
        except FileExistsError:  # a file and a folder of one name, or a race: never overwrite
            raise _refuse(self.src, name, f"lands on {path.relative_to(self.out)}, which exists") from None
        except OSError as exc:
            raise self.cannot_write(path, exc) from None
        with fout:
            first = True
            while chunk := read(CHUNK):
                if first and rule.magic:
                    problem = rule.magic_problem(chunk)
                    if problem:
                        raise _refuse(self.src, name, problem)
                first = False
                n += len(chunk)
                self.left -= len(chunk)
                if n > bound:
                    raise _refuse(self.src, name, f"unpacks to more than the {bound} bytes allowed for such a file")
                if self.left < 0:
                    raise _refuse(self.src, name, f"takes the dataset's archives past the {MAX_TREE_BYTES} bytes "
                                                  "allowed in all (a zip bomb?)")
                try:
                    fout.write(chunk)
                except OSError as exc:
                    raise self.cannot_write(path, exc) from None
            if first and rule.magic:
                raise _refuse(self.src, name, "is empty")

    def cannot_write(self, path: Path, exc: OSError) -> WriteFailed:
        return WriteFailed(f"{self.src}: cannot write {path} while unpacking ({exc.strerror or exc}); nothing was "
                           "installed (a verified archive is kept in the cache). Free space in the cache (--cache / "
                           "$ANOMALY_REF_CACHE) and fetch again")


def _tar_reason(info: tarfile.TarInfo, out: Path) -> str | None:
    if info.issym() or info.islnk():
        return f"is a {'symbolic' if info.issym() else 'hard'} link (to {info.linkname!r})"
    if not (info.isfile() or info.isdir()):
        return "is a device, FIFO or other special file"
    reason = unsafe_path(info.name)
    if reason:
        return reason
    try:
        tarfile.data_filter(info, str(out))  # Python's own judgement, on top of ours
    except tarfile.FilterError as exc:
        return f"is refused by Python's tar 'data' filter ({type(exc).__name__})"
    return None


def unpack_tar(path: Path, name: str, w: TreeWriter) -> None:
    out = w.out
    with unreadable(name, path, TAR_ERRORS, "tar archive"):
        with tarfile.open(path, mode="r|*") as tar:
            for info in tar:
                w.count(info.name)
                reason = _tar_reason(info, out)
                if reason:
                    raise _refuse(name, info.name, reason)
                if not info.isfile():
                    continue
                hit = w.target(info.name[2:] if info.name.startswith("./") else info.name, info.size, name)
                if hit is not None:
                    w.copy(tar.extractfile(info).read, hit[0], hit[1], info.name)


def unpack_zip(path: Path, name: str, w: TreeWriter) -> None:
    with unreadable(name, path, ZIP_ERRORS, "zip archive"):
        zf = zipfile.ZipFile(path)
    with zf, unreadable(name, path, ZIP_ERRORS, "zip archive"):
        plan = []
        for info in zf.infolist():  # judge every entry before writing any byte
            w.count(info.filename)
            reason = unsafe_reason(info)
            if reason:
                raise _refuse(name, info.filename, reason)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(name, info.filename, "is a device, FIFO or other special file")
            if info.is_dir():
                continue
            hit = w.target(info.filename, info.file_size, name)
            if hit is not None:
                plan.append((info, hit))
        for info, (target, rule) in plan:
            with zf.open(info) as fin:
                w.copy(fin.read, target, rule, info.filename)


def unpack_file(path: Path, name: str, w: TreeWriter) -> None:
    """A member that is no archive (UMN's video): copied under its own name, if the layout keeps it."""
    hit = w.target(name, path.stat().st_size, name)
    if hit is None:
        raise _refuse(name, name, f"is not a file of the {w.layout.name} layout")
    with open(path, "rb") as fin:
        w.copy(fin.read, hit[0], hit[1], name)


def unpack(path: str | os.PathLike, name: str, w: TreeWriter) -> list[str]:
    """Unpack archive ``path`` (published as ``name``) through ``w``; the tree paths it wrote."""
    path = Path(path)
    before = set(w.written)
    w.src = name
    w.out.mkdir(parents=True, exist_ok=True)
    {"tar": unpack_tar, "zip": unpack_zip, "file": unpack_file}[kind_of(name)](path, name, w)
    return sorted(set(w.written) - before)


def copy_tree(folder: str | os.PathLike, layout: Layout, out: str | os.PathLike) -> list[str]:
    """An archive unpacked by hand (``fetch --from FOLDER``): its kept files copied into ``out``
    under the layout's tree paths, with the checks an archive gets (no links, bounds, magic)."""
    folder, out = Path(folder), Path(out)
    w = TreeWriter(out, layout)
    w.src = str(folder)

    def unreadable_folder(exc: OSError) -> None:
        raise FetchError(f"{folder}: cannot list {exc.filename} ({exc.strerror or exc}); nothing was installed")

    for rel, p in regular_files(folder, _refuse, count=w.count, onerror=unreadable_folder):
        hit = w.target(rel, p.stat().st_size, None)
        if hit is not None:
            with open_nofollow(p) as fin:
                w.copy(fin.read, hit[0], hit[1], rel)
    return sorted(w.written)
