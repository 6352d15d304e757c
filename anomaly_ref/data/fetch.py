"""Get exactly the bytes data_manifest.json names into the cache, or stop with a clear error.

Public API (what bench/ uses)::

    normal, anomaly = features("ped2", "convnext_tiny")   # two verified .npy paths
    path = workbook("ped2")                               # the verified result workbook

Cache layout: ``<cache>/<artifact id>/<member name>`` (``features/ped2/normal_features_
convnext_tiny.npy``, ``workbooks/ped2/Results of ... Ped2.xlsx``), plus ``.locks/``,
``.tmp/`` (work in progress, never read) and ``.rejected/`` (every copy that failed
verification, kept for inspection). A mirror serves the same layout under its base URL.

Every download goes through pooch (:mod:`.download`: retries, tqdm progress bar, sha256
check, at most the bytes the manifest allows) into a private work folder inside the cache; a local copy
(``fetch --from PATH``, ``$ANOMALY_REF_FROM``) is copied into one the same way. Members
are verified there (sha256 if pinned, .npy header checks always) by the one function
both routes share, and only then renamed into place, all or nothing. One file lock per
artifact keeps concurrent fetches from racing. Every file is verified again each time
it is handed out.

Trust on first use: the sha256 and size of every unpinned member are recorded in
``<cache>/<artifact id>/.tofu.json`` when it is installed (or first handed out), and an
unpinned file is then held to that record exactly as a pinned one is held to its pin.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from . import download, integrity, manifest as mf, unpack
from .. import registry
from ..errors import FetchError, InputError
from .integrity import MISMATCH, MISSING, OK, UNPINNED, Check
from .manifest import Artifact, Manifest, Member
from .paths import cache_dir
from .tofu import TOFU_NAME, FirstUse

log = logging.getLogger(__name__)

MIRROR_ENV = "ANOMALY_REF_MIRROR"
OFFLINE_ENV = "ANOMALY_REF_OFFLINE"
REQUIRE_PINNED_ENV = "ANOMALY_REF_REQUIRE_PINNED"
FROM_ENV = "ANOMALY_REF_FROM"
WAYS_OUT = download.WAYS_OUT
DEFAULT_RETRIES = 3  # extra attempts after the first (pooch waits 1 s, 2 s, ... between them)
DEFAULT_TIMEOUT = 60.0  # seconds without a byte before a request is abandoned


@dataclass(frozen=True)
class Options:
    """How to fetch; built once from the API's keywords (see :func:`options`)."""

    cache: Path
    mirror: str | None = None  # base URL with the cache layout; replaces the published URLs
    offline: bool = False  # never touch the network; missing files are an error
    require_pinned: bool = False  # refuse members without a pinned sha256
    retries: int = DEFAULT_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    progress: bool = False  # tqdm progress bar on stderr (the CLI turns it on on a terminal)
    from_root: Path | None = None  # local copies: <root>/<dataset>[.zip], <root>/<workbook name> (see local_source)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def options(
    cache: str | os.PathLike | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    require_pinned: bool | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = False,
    from_root: str | os.PathLike | None = None,
) -> Options:
    """Resolve arguments against the environment (an argument given wins over its env var)
    and check them: ``InputError`` names the parameter, the value and the bound."""
    source = "--mirror"
    if mirror is None:
        mirror, source = os.environ.get(MIRROR_ENV) or None, f"${MIRROR_ENV}"
    if mirror:
        _check_mirror(mirror, source)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(
            f"retries (--retries): expected an integer >= 0, found {retries!r}; it counts the extra "
            "attempts after the first (0: one attempt)"
        )
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
            or not math.isfinite(timeout)):
        raise InputError(
            f"timeout (--timeout): expected finite seconds > 0, found {timeout!r}; it bounds the wait for "
            f"each read (default {DEFAULT_TIMEOUT:g})"
        )
    source = "from_root"
    if from_root is None:
        from_root, source = os.environ.get(FROM_ENV) or None, f"${FROM_ENV}"
    if from_root is not None and not Path(from_root).expanduser().is_dir():
        raise InputError(
            f"local copies ({source}): {from_root} is not a folder; it should hold one folder or zip per "
            "dataset (<dataset>/ or <dataset>.zip), as downloaded (README: No access to Dropbox?)"
        )
    return Options(
        cache=cache_dir(cache),
        mirror=mirror or None,
        offline=offline if offline is not None else _env_flag(OFFLINE_ENV),
        require_pinned=require_pinned if require_pinned is not None else _env_flag(REQUIRE_PINNED_ENV),
        retries=retries,
        timeout=float(timeout),
        progress=progress,
        from_root=Path(from_root).expanduser() if from_root is not None else None,
    )


def _check_mirror(mirror: str, source: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(mirror)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        ok = False
    if not ok:
        raise InputError(
            f"mirror ({source}): expected an http:// or https:// base URL such as "
            f"https://data.example.org/anomaly-ref, found {mirror!r}; the mirror serves the cache "
            "layout (docs/fetch.md, Mirrors)"
        )


def features(
    dataset: str,
    extractor: str,
    *,
    cache: str | os.PathLike | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    require_pinned: bool | None = None,
    manifest: str | os.PathLike | Manifest | None = None,
    **kwargs,
) -> tuple[Path, Path]:
    """Verified paths of ``normal_features_<extractor>.npy`` (N0, D) and ``anomaly_...`` (N1, D).

    ``kwargs``: ``retries``, ``timeout``, ``progress`` (see :class:`Options`).
    """
    registry.get_dataset(dataset), registry.get_backbone(extractor)  # unknown names list valid ones
    art = mf.load(manifest).artifact(f"features/{dataset}")
    wanted = [art.feature(extractor, "normal"), art.feature(extractor, "anomaly")]
    opts = options(cache, mirror, offline, require_pinned, **kwargs)
    paths = fetch_artifact(art, wanted, opts)
    return paths[wanted[0].name], paths[wanted[1].name]


def workbook(
    dataset: str,
    *,
    cache: str | os.PathLike | None = None,
    mirror: str | None = None,
    offline: bool | None = None,
    manifest: str | os.PathLike | Manifest | None = None,
    **kwargs,
) -> Path:
    """Verified path of the paper's result workbook for ``dataset`` (always pinned)."""
    registry.get_dataset(dataset)
    art = mf.load(manifest).artifact(f"workbooks/{dataset}")
    opts = options(cache, mirror, offline, None, **kwargs)
    return fetch_artifact(art, list(art.members), opts)[art.members[0].name]


@dataclass(frozen=True)
class Fetched:
    """What :func:`get_artifact` made present: ``{name: path}`` and where the bytes came from."""

    paths: dict[str, Path]
    origin: str  # "already in the cache", "downloaded from <url>", "copied from <path>"


def fetch_artifact(art: Artifact, wanted: Sequence[Member], opts: Options,
                   source: str | os.PathLike | None = None) -> dict[str, Path]:
    """Make ``wanted`` members of ``art`` present and verified in the cache; ``{name: path}``.

    ``source``: a local copy to install from instead of downloading (``fetch --from``).
    An optional member the source lacks is left out of the result.
    """
    return get_artifact(art, wanted, opts, source).paths


def local_source(art: Artifact, root: Path | None) -> Path | None:
    """The local copy of ``art`` under ``root`` ($ANOMALY_REF_FROM), or None: a feature folder
    is ``<root>/<dataset>/`` or ``<root>/<dataset>.zip``; a workbook ``<root>/<name>`` or
    ``<root>/<dataset>/<name>``."""
    if root is None:
        return None
    if art.kind == "file":
        candidates = [root / art.members[0].name, root / art.dataset / art.members[0].name]
    else:
        candidates = [root / art.dataset, root / f"{art.dataset}.zip"]
    return next((c for c in candidates if c.exists()), None)


def get_artifact(art: Artifact, wanted: Sequence[Member], opts: Options,
                 source: str | os.PathLike | None = None) -> Fetched:
    """:func:`fetch_artifact`, also saying where the bytes came from."""
    if opts.require_pinned:
        unpinned = [m.name for m in wanted if m.sha256 is None]
        if unpinned:
            raise FetchError(
                f"{art.id}: {', '.join(unpinned)} not pinned (sha256 null in the manifest) and pinned "
                f"members are required (--require-pinned / ${REQUIRE_PINNED_ENV}); nothing was "
                "downloaded. Fetch without that option, check the files, then run 'anomaly-ref manifest pin'"
            )
    source = Path(source).expanduser() if source is not None else local_source(art, opts.from_root)
    dest = opts.cache / art.id
    with _artifact_lock(opts.cache, art.id):
        tofu = FirstUse.load(dest / TOFU_NAME)
        checks = {m.name: _cached_check(dest / m.name, m, opts.cache, tofu) for m in wanted}
        todo = [m for m in wanted if checks[m.name].status == MISSING and not m.optional]
        if todo and opts.offline and source is None:
            listing = "; ".join(str(dest / m.name) for m in todo)
            raise FetchError(
                f"{art.id}: offline and {len(todo)} file(s) missing from the cache: {listing}. "
                "Run the same command without --offline (or with --mirror URL) where the network is "
                "reachable, install a local copy (fetch --from PATH), or copy the files to those paths"
            )
        origin = "already in the cache"
        if todo:
            installed, origin = _install(art, todo, dest, opts, tofu, source)
            checks.update(installed)
        tofu.record(checks)
        paths = {m.name: _accept(checks[m.name], opts).path for m in wanted
                 if not (m.optional and checks[m.name].status == MISSING)}
        return Fetched(paths, origin)


def _cached_check(path: Path, member: Member, cache: Path, tofu: FirstUse) -> Check:
    """Verify a cached copy; a bad one is moved to ``.rejected/`` and reported MISSING."""
    check = tofu.check(path, member)
    if check.status == MISMATCH:
        moved = _reject(path, cache)
        log.warning("%s failed verification (%s); moved to %s, fetching again", path, check.detail, moved)
        return Check(path, MISSING)
    return check


def _accept(check: Check, opts: Options) -> Check:
    """Pass an OK verdict, warn on an unpinned one, refuse anything else."""
    if check.status == OK:
        return check
    if check.status == UNPINNED and not opts.require_pinned:
        log.warning(
            "%s is not pinned in the manifest; accepted after the array checks. sha256 %s "
            "(record it with 'anomaly-ref manifest pin')", check.path, check.sha256,
        )
        return check
    if check.status == UNPINNED:
        raise FetchError(f"{check.path}: not pinned (found sha256 {check.sha256}) and pinned members are required")
    raise FetchError(f"{check.path}: {check.status}: {check.detail}")  # internal: _install verified it


def _install(art: Artifact, todo: Sequence[Member], dest: Path, opts: Options, tofu: FirstUse,
             source: Path | None) -> tuple[dict[str, Check], str]:
    """Stage the bytes (download, or copy from ``source``) in a work folder, then verify and install."""
    with _workdir(opts.cache, art.id) as work:
        if source is not None:
            staged, members = _stage_local(art, source, work)
            origin = f"copied from {source}"
        else:
            staged, members, origin = _stage_download(art, todo, work, opts)
        return _verify_and_install(art, todo, staged, members, dest, opts, tofu), origin


def _stage_download(art: Artifact, todo: Sequence[Member], work: Path,
                    opts: Options) -> tuple[dict[str, Path], list[Member], str]:
    """Download what ``todo`` needs into ``work``: ``({name: staged path}, members staged, origin)``."""
    if opts.mirror:
        staged = {m.name: _get(integrity.mirror_url(opts.mirror, art.id, m.name), work, m.name, m.sha256, opts,
                               integrity.member_size_bound(m)) for m in todo}
        return staged, list(todo), f"downloaded from the mirror {opts.mirror}"
    if art.kind == "file":
        m = art.members[0]
        staged = {m.name: _get(art.url, work, m.name, m.sha256, opts, integrity.member_size_bound(m))}
        return staged, [m], f"downloaded from {art.url}"
    # a folder zip brings every member: keep them all, verified
    url = integrity.dropbox_direct(art.url)
    zip_path = _get(url, work, art.id.replace("/", "-") + ".zip", None, opts,
                    (integrity.MAX_ARCHIVE_BYTES, "the limit for one folder"))
    staged = unpack.extract_zip(zip_path, art.members, work / "members")
    return staged, list(art.members), f"downloaded from {url}"


def _get(url: str, work: Path, fname: str, sha256: str | None, opts: Options, bound: tuple[int, str]) -> Path:
    """:func:`download.get` into ``work/fname`` with the options' retries, timeout and progress bar."""
    return download.get(url, work / fname, sha256, bound, retries=opts.retries, timeout=opts.timeout,
                        progress=opts.progress)


def _stage_local(art: Artifact, source: Path, work: Path) -> tuple[dict[str, Path], list[Member]]:
    """Copy the members a local copy holds into ``work`` with the checks a download gets."""
    if not source.exists():
        raise FetchError(f"{source}: no such file or folder (--from / ${FROM_ENV}); nothing was installed")
    if art.kind == "file":
        m = art.members[0]
        path = source / m.name if source.is_dir() else source
        if not path.is_file():
            raise FetchError(f"{source}: holds no {m.name!r} (--from / ${FROM_ENV}); nothing was installed")
        bound = integrity.member_size_bound(m)
        if path.stat().st_size > bound[0]:
            raise FetchError(f"{path}: {path.stat().st_size} bytes, more than the {bound[0]} allowed ({bound[1]}); "
                             "it is not the paper's workbook; nothing was installed")
        return {m.name: unpack.copy_file(path, m, work / m.name)}, [m]
    members = list(art.members)
    if source.is_dir():
        return unpack.copy_folder(source, members, work / "members"), members
    return unpack.extract_zip(source, members, work / "members"), members


def _verify_and_install(art: Artifact, todo: Sequence[Member], staged: dict[str, Path], members: Sequence[Member],
                        dest: Path, opts: Options, tofu: FirstUse) -> dict[str, Check]:
    """Verify every staged member, then rename them into ``dest``: all or nothing.

    The one check-and-install step of every route (download, mirror, local copy). A file
    already in the cache is never replaced. Returns the installed members' verdicts, keyed
    by name, with their cache paths.
    """
    checks = {m.name: tofu.check(staged[m.name], m) for m in members if m.name in staged}
    for m in members:
        check = checks.get(m.name)
        if check is None and m.optional:
            continue  # the source does not hold it: fine
        if check is None or check.status not in (OK, UNPINNED):  # MISMATCH, or nothing staged
            detail, kept = "missing: the source held no such file", ""
            if check is not None and check.status == MISMATCH:
                detail = check.detail
                kept = f" (the copy is kept in {_reject(staged[m.name], opts.cache, Path(art.id, m.name))})"
            raise FetchError(
                f"{art.id}/{m.name}: fails verification: {detail}. Nothing was installed{kept}. "
                "If the source changed on purpose, fix data_manifest.json; otherwise fetch it again "
                "(or use --mirror)"
            )
    dest.mkdir(parents=True, exist_ok=True)
    installed: dict[str, Check] = {}
    for m in members:
        target = dest / m.name
        if m.name in checks and (m in todo or not target.exists()):
            if m.sha256 is None and opts.require_pinned:
                continue  # not asked for, and not trusted without a pin
            os.replace(staged[m.name], target)
            installed[m.name] = dataclasses.replace(checks[m.name], path=target)
            log.info("installed %s", target)
    return installed


@contextmanager
def _artifact_lock(cache: Path, artifact_id: str) -> Iterator[None]:
    """One process at a time per artifact (other artifacts proceed in parallel)."""
    from filelock import FileLock

    locks = cache / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / (artifact_id.replace("/", "--") + ".lock")))
    log.debug("waiting for %s", lock.lock_file)
    with lock:
        yield


@contextmanager
def _workdir(cache: Path, artifact_id: str) -> Iterator[Path]:
    """A fresh folder under ``<cache>/.tmp`` (same filesystem: renames are atomic), always removed.

    Called under the artifact's lock, so leftovers of a killed earlier fetch of the same
    artifact can be removed first.
    """
    root = cache / ".tmp"
    root.mkdir(parents=True, exist_ok=True)
    prefix = artifact_id.replace("/", "--") + "."
    for stale in root.glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _reject(path: Path, cache: Path, rel: Path | None = None) -> Path:
    """Move a file that failed verification to ``.rejected/<rel>.<time>[.N]`` (kept, never used):
    a cached copy (``rel`` defaults to its place in the cache) or a staged download."""
    rel = rel if rel is not None else path.relative_to(cache)
    folder = cache / ".rejected" / rel.parent
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{rel.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    for n in itertools.count():  # never overwrite an earlier rejection (several in one second)
        target = folder / (stamp if n == 0 else f"{stamp}.{n}")
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # claim the name
        except FileExistsError:
            continue
        os.replace(path, target)
        return target


def verify_cache(manifest: Manifest, cache: Path, datasets: Sequence[str] | None = None) -> list[tuple[Artifact, Member, Check]]:
    """Re-hash every manifest member in ``cache``: one (artifact, member, Check) per file.

    An unpinned file that differs from its first-use record is a MISMATCH, as for a pin.
    """
    records: dict[str, FirstUse] = {}
    rows = []
    for art, m in mf.iter_members(manifest, datasets):
        if art.id not in records:
            records[art.id] = FirstUse.load(cache / art.id / TOFU_NAME)
        rows.append((art, m, records[art.id].check(cache / art.id / m.name, m)))
    return rows
