"""``anomaly-ref fetch``: download and verify the authors' features and the paper's workbooks."""

from __future__ import annotations

import argparse
import sys

from ..registry import DATASETS, paper_backbones
from ._checks import add_backbone_option

WHAT = ("features", "workbook", "frames")
MANIFEST_HELP = ("data_manifest.json (default: $ANOMALY_REF_MANIFEST, else the checkout's, else the copy "
                 "installed with anomaly-ref)")


def add_source_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, download: bool = True
) -> None:
    """--manifest and --cache; with ``download`` also --mirror, --offline, --require-pinned,
    --retries and --timeout. Shared by ``fetch``, ``reproduce`` (download) and ``manifest``
    (cache only), so every option an error message advises exists where the error occurs.
    ``parser`` may be an argument group. Validated by :func:`anomaly_ref.data.fetch.options`."""
    parser.add_argument("--manifest", help=MANIFEST_HELP)
    parser.add_argument("--cache", help="cache folder (default: $ANOMALY_REF_CACHE, else the platform cache dir)")
    if not download:
        return
    parser.add_argument("--mirror", help="base URL serving the cache layout (default: $ANOMALY_REF_MIRROR)")
    parser.add_argument("--offline", action="store_true", default=None,
                        help="never touch the network; fail naming every missing file ($ANOMALY_REF_OFFLINE=1)")
    parser.add_argument("--require-pinned", action="store_true", default=None,
                        help="refuse members without a pinned sha256 ($ANOMALY_REF_REQUIRE_PINNED=1)")
    parser.add_argument("--retries", type=int, default=3, help="extra attempts per download (default 3)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds without data before giving up (default 60)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="download and verify one dataset's features, result workbook or official frames",
        description=(
            "Download the authors' feature folder and the paper's result workbook for one "
            "dataset into the cache, verifying every file against data_manifest.json. "
            "Prints the verified paths. With --only frames: the dataset's official frame "
            "archive instead (UCSD, Avenue, UMN; hundreds of MB), verified, unpacked trusting "
            "nothing, and the test and training frame folders printed. See docs/fetch.md."
        ),
        epilog="examples: anomaly-ref fetch --dataset ped2 --backbone convnext_tiny --only features; "
               "anomaly-ref fetch --dataset ped1 --only frames; "
               "anomaly-ref fetch --dataset avenue --only frames --from ~/Downloads",
    )
    p.add_argument("--dataset", required=True, choices=list(DATASETS), help="dataset whose files to fetch")
    add_backbone_option(p, paper_backbones(), "only this backbone's two feature files (default: all six)",
                        alias=True)
    p.add_argument("--only", choices=WHAT,
                   help="only the features, only the workbook (default: both), or the official frames (never "
                        "fetched unless asked for: an archive of hundreds of MB)")
    add_source_options(p)
    p.add_argument(
        "--from", dest="source", metavar="PATH",
        help="install from a local copy instead of downloading: the dataset's folder zip or the unpacked "
             "folder (with --only workbook: the workbook file); checked exactly as a download. The workbook "
             "is taken from PATH too when PATH is a folder holding it, and otherwise skipped, not downloaded "
             "(default: $ANOMALY_REF_FROM/<dataset>). With --only frames: the archive file, a folder holding "
             "the archive(s), or the folder an archive unpacks to",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data import fetch, manifest
    from ..errors import InputError

    man = manifest.load(args.manifest)
    opts = fetch.options(args.cache, args.mirror, args.offline, args.require_pinned,
                         retries=args.retries, timeout=args.timeout,
                         progress=not args.no_progress and sys.stderr.isatty())
    source = Path(args.source).expanduser() if args.source else None
    if source is not None and not source.exists():
        what = ("the archive, a folder holding it, or the folder it unpacks to" if args.only == "frames"
                else "the dataset's folder zip or the folder it unpacks to")
        raise InputError(f"--from {args.source}: no such file or folder; give {what}")
    if args.only == "frames":
        return _frames(args, man, opts, source)
    jobs = []
    if args.only in (None, "features"):
        art = man.artifact(f"features/{args.dataset}")
        wanted = (
            [art.feature(args.backbone, "normal"), art.feature(args.backbone, "anomaly")]
            if args.backbone else list(art.members)
        )
        jobs.append((art, wanted, source))
    if args.only in (None, "workbook"):
        art = man.artifact(f"workbooks/{args.dataset}")
        wb_source = source if args.only == "workbook" else (
            source / art.members[0].name if source is not None and (source / art.members[0].name).is_file() else None)
        if source is not None and wb_source is None:
            # --from names a local copy of the features: downloading the workbook here would
            # defeat it (an offline machine would fail after installing the features).
            print(f"{art.id}: not in {source}; skipped (fetch it with --only workbook, --from its file)",
                  file=sys.stderr)
        else:
            jobs.append((art, list(art.members), wb_source))
    done = [(art, fetch.get_artifact(art, wanted, opts, src)) for art, wanted, src in jobs]
    for _, got in done:
        for path in got.paths.values():
            print(path)
    for art, got in done:  # what was fetched, verified, and from where
        print(f"{art.id}: {len(got.paths)} file(s) verified, {got.origin}", file=sys.stderr)
    print(f"ok: {sum(len(g.paths) for _, g in done)} verified file(s) in {opts.cache}", file=sys.stderr)
    return 0


def _frames(args, man, opts, source) -> int:
    from ..data import framesets
    from ..errors import InputError

    if args.backbone:
        raise InputError("--backbone selects feature files; --only frames fetches the frames every backbone reads")
    tree = framesets.get_tree(man.frames(args.dataset), args.dataset, opts, source)
    print(tree.test)
    if tree.train is not None:
        print(tree.train)
    print(f"{tree.artifact}: {args.dataset}: {tree.origin}", file=sys.stderr)
    for role, path in (("test", tree.test), ("training", tree.train)):
        print(f"  {role} frames: {_describe(path, args.dataset) if path else 'none (no normal training video)'}",
              file=sys.stderr)
    return 0


def _describe(path, dataset: str) -> str:
    """What a reader finds in ``path``: frames, clips, abnormal frames (or why it cannot read it)."""
    from ..errors import InputError
    from ..frames.sources import open_source

    try:
        frames = open_source(path, dataset)
    except InputError as exc:  # e.g. UMN before its frame_ranges.csv exists: fetched, not yet readable
        return f"{path}: not readable yet: {exc}"
    return (f"{path}: {len(frames)} frames in {len(set(frames.clips))} clips, "
            f"{sum(frames.labels)} abnormal")
