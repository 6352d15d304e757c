"""``anomaly-ref fetch``: download and verify the authors' features and the paper's workbooks."""

from __future__ import annotations

import argparse
import sys

from ..registry import DATASETS, paper_backbones

WHAT = ("features", "workbook")


def add_source_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, download: bool = True
) -> None:
    """--manifest and --cache; with ``download`` also --mirror, --offline, --require-pinned,
    --retries and --timeout. Shared by ``fetch``, ``reproduce`` (download) and ``manifest``
    (cache only), so every option an error message advises exists where the error occurs.
    ``parser`` may be an argument group. Validated by :func:`anomaly_ref.data.fetch.options`."""
    parser.add_argument("--manifest", help="data_manifest.json (default: $ANOMALY_REF_MANIFEST, else the repo root)")
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
        help="download and verify one dataset's features and result workbook",
        description=(
            "Download the authors' feature folder and the paper's result workbook for one "
            "dataset into the cache, verifying every file against data_manifest.json. "
            "Prints the verified paths. See docs/fetch.md."
        ),
    )
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--extractor", choices=paper_backbones(), help="only this backbone's two feature files")
    p.add_argument("--only", choices=WHAT, help="only the features or only the workbook (default: both)")
    add_source_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import fetch, manifest

    man = manifest.load(args.manifest)
    opts = fetch.options(args.cache, args.mirror, args.offline, args.require_pinned,
                         retries=args.retries, timeout=args.timeout, progress=not args.no_progress)
    paths = []
    if args.only in (None, "features"):
        art = man.artifact(f"features/{args.dataset}")
        wanted = (
            [art.feature(args.extractor, "normal"), art.feature(args.extractor, "anomaly")]
            if args.extractor else list(art.members)
        )
        paths += fetch.fetch_artifact(art, wanted, opts).values()
    if args.only in (None, "workbook"):
        art = man.artifact(f"workbooks/{args.dataset}")
        paths += fetch.fetch_artifact(art, list(art.members), opts).values()
    for path in paths:
        print(path)
    print(f"ok: {len(paths)} verified file(s) in {opts.cache}", file=sys.stderr)
    return 0
