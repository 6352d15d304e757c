"""Get exactly the bytes data_manifest.json names into the cache, or stop with a clear error.

Public API (what bench/ uses)::

    normal, anomaly = features("ped2", "convnext_tiny")   # two verified .npy paths
    path = workbook("ped2")                               # the verified result workbook

Cache layout: ``<cache>/<artifact id>/<member name>`` (``features/ped2/normal_features_
convnext_tiny.npy``, ``workbooks/ped2/Results of ... Ped2.xlsx``), plus ``.locks/``,
``.tmp/`` (work in progress, never read) and ``.rejected/`` (cached files that failed
verification, kept for inspection). A mirror serves the same layout under its base URL.

Every download goes through pooch (retries, tqdm progress bar, sha256 check) into a
private work folder inside the cache; members are verified there (sha256 if pinned,
.npy header checks always) and only then renamed into place, all or nothing per
download. One file lock per artifact keeps concurrent fetches from racing. Every file
is verified again each time it is handed out.

Trust on first use: the sha256 and size of every unpinned member are recorded in
``<cache>/<artifact id>/.tofu.json`` when it is installed (or first handed out), and an
unpinned file is then held to that record exactly as a pinned one is held to its pin.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from . import integrity, manifest as mf
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
    progress: bool = False  # tqdm progress bar on stderr (the CLI turns it on)


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
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InputError(
            f"timeout (--timeout): expected seconds > 0, found {timeout!r}; it bounds the wait for "
            f"each read (default {DEFAULT_TIMEOUT:g})"
        )
    return Options(
        cache=cache_dir(cache),
        mirror=mirror or None,
        offline=offline if offline is not None else _env_flag(OFFLINE_ENV),
        require_pinned=require_pinned if require_pinned is not None else _env_flag(REQUIRE_PINNED_ENV),
        retries=retries,
        timeout=float(timeout),
        progress=progress,
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


def fetch_artifact(art: Artifact, wanted: Sequence[Member], opts: Options) -> dict[str, Path]:
    """Make ``wanted`` members of ``art`` present and verified in the cache; ``{name: path}``."""
    if opts.require_pinned:
        unpinned = [m.name for m in wanted if m.sha256 is None]
        if unpinned:
            raise FetchError(
                f"{art.id}: {', '.join(unpinned)} not pinned (sha256 null in the manifest) and pinned "
                f"members are required (--require-pinned / ${REQUIRE_PINNED_ENV}); nothing was "
                "downloaded. Fetch without that option, check the files, then run 'anomaly-ref manifest pin'"
            )
    dest = opts.cache / art.id
    with _artifact_lock(opts.cache, art.id):
        tofu = FirstUse.load(dest / TOFU_NAME)
        checks = {m.name: _cached_check(dest / m.name, m, opts.cache, tofu) for m in wanted}
        todo = [m for m in wanted if checks[m.name].status == MISSING]
        if todo and opts.offline:
            listing = "; ".join(str(dest / m.name) for m in todo)
            raise FetchError(
                f"{art.id}: offline and {len(todo)} file(s) missing from the cache: {listing}. "
                "Run the same command without --offline (or with --mirror URL) where the network is "
                "reachable, or copy the files to those paths"
            )
        if todo:
            checks.update(_download(art, todo, dest, opts, tofu))
        tofu.record(checks)
        return {m.name: _accept(checks[m.name], opts).path for m in wanted}


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
    raise FetchError(f"{check.path}: {check.status}: {check.detail}")  # internal: _download verified it


def _download(art: Artifact, todo: Sequence[Member], dest: Path, opts: Options, tofu: FirstUse) -> dict[str, Check]:
    """Download into a work folder, verify everything there, then rename into ``dest``.

    Returns the verdicts of the installed members, keyed by name, with their cache paths.
    """
    with _workdir(opts.cache, art.id) as work:
        if opts.mirror:
            staged = {m.name: _get(integrity.mirror_url(opts.mirror, art.id, m.name), work, m.name, m.sha256, opts)
                      for m in todo}
            members = list(todo)
        elif art.kind == "file":
            m = art.members[0]
            staged = {m.name: _get(art.url, work, m.name, m.sha256, opts)}
            members = [m]
        else:  # a folder zip brings every member: keep them all, verified
            zip_path = _get(integrity.dropbox_direct(art.url), work, art.id.replace("/", "-") + ".zip", None, opts)
            staged = integrity.extract_members(zip_path, art.members, work / "members")
            members = list(art.members)
        checks = {m.name: tofu.check(staged[m.name], m) for m in members}
        for m in members:  # every member verified before any is installed: all or nothing
            check = checks[m.name]
            if check.status not in (OK, UNPINNED):  # MISMATCH, or MISSING: nothing was staged
                detail = check.detail if check.status == MISMATCH else "missing: the download produced no file"
                raise FetchError(
                    f"{art.id}/{m.name}: downloaded file fails verification: {detail}. "
                    "Nothing was written to the cache. If the source changed on purpose, fix "
                    "data_manifest.json; otherwise retry later or use --mirror"
                )
        dest.mkdir(parents=True, exist_ok=True)
        installed: dict[str, Check] = {}
        for m in members:
            target = dest / m.name
            if m in todo or not target.exists():
                if m.sha256 is None and opts.require_pinned:
                    continue  # not asked for, and not trusted without a pin
                os.replace(staged[m.name], target)
                installed[m.name] = dataclasses.replace(checks[m.name], path=target)
                log.info("installed %s", target)
        return installed


def _get(url: str, work: Path, fname: str, sha256: str | None, opts: Options) -> Path:
    """Download ``url`` to ``work/fname`` with pooch: retries, progress bar, sha256 check."""
    import pooch
    import requests

    fetcher = pooch.create(
        path=work, base_url="", registry={fname: f"sha256:{sha256}" if sha256 else None},
        urls={fname: url}, retry_if_failed=opts.retries,
    )
    downloader = pooch.HTTPDownloader(progressbar=opts.progress, timeout=opts.timeout)
    attempts = f"{opts.retries + 1} attempt(s)"
    try:
        with _quiet_pooch():
            path = Path(fetcher.fetch(fname, downloader=downloader))
    except requests.HTTPError as exc:
        raise FetchError(
            f"{fname}: HTTP {exc.response.status_code} from {url} after {attempts}; nothing was written "
            "to the cache. The link may have moved: use --mirror URL (layout: docs/fetch.md)"
        ) from None
    except requests.Timeout as exc:
        raise FetchError(
            f"{fname}: no data from {url} for {opts.timeout:g} s, {attempts} ({exc}); nothing was "
            "written to the cache. Retry later, raise --timeout, or use --mirror"
        ) from None
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema) as exc:  # also ValueErrors: caught before the hash case
        raise FetchError(
            f"{fname}: cannot request {url}: {exc}; nothing was written to the cache. Fix the URL "
            "(the artifact's url in data_manifest.json, or --mirror)"
        ) from None
    except requests.RequestException as exc:  # refused, reset, body shorter than Content-Length
        raise FetchError(
            f"{fname}: download from {url} broke off after {attempts} ({exc}); nothing was written to "
            "the cache. Retry later or use --mirror"
        ) from None
    except ValueError as exc:  # pooch: hash mismatch (message has expected and found)
        raise FetchError(
            f"{fname}: sha256 mismatch from {url} after {attempts}: {exc} Nothing was written to the "
            "cache. Retry later, use --mirror, or, if the source changed on purpose, update data_manifest.json"
        ) from None
    if not path.is_file():  # pooch made no attempt (retry_if_failed < 0)
        raise FetchError(
            f"{fname}: the download from {url} produced no file; nothing was written to the cache. "
            f"retries was {opts.retries!r} (expected >= 0): build Options with fetch.options()"
        )
    return path


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Keep pooch's INFO lines ("Downloading file ...", on its own stderr handler) out of the
    output unless this module logs at INFO (``-v``), so a CLI error stays one line.

    A filter rather than ``setLevel``: each call adds and removes its own, so concurrent
    downloads in threads cannot restore a stale level.
    """
    import pooch

    if log.isEnabledFor(logging.INFO):
        yield
        return
    logger = pooch.get_logger()

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(warnings_only)
    try:
        yield
    finally:
        logger.removeFilter(warnings_only)


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


def _reject(path: Path, cache: Path) -> Path:
    """Move a cached file that failed verification out of the artifact folder (kept, not used)."""
    rel = path.relative_to(cache)
    target = cache / ".rejected" / rel.parent / f"{rel.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    target.parent.mkdir(parents=True, exist_ok=True)
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
