"""``anomaly-ref manifest``: validate data_manifest.json, verify the cache against it, pin hashes."""

from __future__ import annotations

import argparse
import sys

from ..registry import DATASETS
from .fetch import MANIFEST_HELP, add_source_options


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "manifest",
        help="validate data_manifest.json, verify the cache, pin sha256 values",
        description="Check data_manifest.json and the cache against it. See docs/fetch.md.",
        epilog="example: anomaly-ref manifest verify --dataset ped2",
    )
    sub = p.add_subparsers(dest="manifest_command", metavar="ACTION", required=True, help="what to do:")

    v = sub.add_parser("validate", help="check the manifest against its schema and the registry",
                       epilog="example: anomaly-ref manifest validate --manifest data_manifest.json")
    v.add_argument("--manifest", help=MANIFEST_HELP)
    v.set_defaults(func=run_validate)

    c = sub.add_parser("verify", help="re-hash the cache: ok / missing / mismatch / unpinned per file",
                       epilog="example: anomaly-ref manifest verify --dataset ped2 --require-all")
    add_source_options(c, download=False)
    c.add_argument("--dataset", action="append", choices=list(DATASETS), help="only this dataset (repeatable)")
    c.add_argument("--require-pinned", action="store_true", default=None,
                   help="count unpinned files as failures ($ANOMALY_REF_REQUIRE_PINNED=1)")
    c.add_argument("--require-all", action="store_true", help="count missing files as failures")
    c.set_defaults(func=run_verify)

    pin = sub.add_parser(
        "pin", help="record the sha256 of verified, unpinned cached members into the manifest (a checkout's, or "
                    "--manifest; never the copy installed with anomaly-ref)",
        epilog="example: anomaly-ref manifest pin --dataset ped2 --manifest data_manifest.json")
    add_source_options(pin, download=False)
    pin.add_argument("--dataset", action="append", choices=list(DATASETS), help="only this dataset (repeatable)")
    pin.set_defaults(func=run_pin)


def run_validate(args: argparse.Namespace) -> int:
    from ..data import manifest

    man = manifest.load(args.manifest)
    n = sum(len(a.members) for a in man.artifacts.values())
    print(f"ok: {man.path}: {len(man.artifacts)} artifacts, {n} members")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..data import fetch, manifest
    from ..data.integrity import MISMATCH, MISSING, UNPINNED

    man = manifest.load(args.manifest)
    opts = fetch.options(args.cache, require_pinned=args.require_pinned)
    rows = fetch.verify_cache(man, opts.cache, args.dataset)
    failing = {MISMATCH} | ({UNPINNED} if opts.require_pinned else set()) | ({MISSING} if args.require_all else set())
    counts: dict[str, int] = {}
    for art, m, check in rows:
        counts[check.status] = counts.get(check.status, 0) + 1
        extra = check.detail if check.status == MISMATCH else (check.sha256 or "") if check.status == UNPINNED else ""
        print(f"{check.status:9} {art.id}/{m.name}" + (f"  {extra}" if extra else ""))
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    bad = sum(counts.get(s, 0) for s in failing)
    print(f"{'FAILED' if bad else 'ok'}: {summary} in {opts.cache}", file=sys.stderr)
    return 1 if bad else 0


def run_pin(args: argparse.Namespace) -> int:
    from ..data import fetch, manifest
    from ..data.integrity import MISMATCH, UNPINNED

    man = manifest.load(args.manifest)
    opts = fetch.options(args.cache)
    rows = fetch.verify_cache(man, opts.cache, args.dataset)
    pins = {(art.id, m.name): (c.sha256, c.path.stat().st_size) for art, m, c in rows if c.status == UNPINNED}
    for art, m, c in rows:
        if c.status == MISMATCH:
            print(f"not pinned: {art.id}/{m.name}: {c.detail}", file=sys.stderr)
    written = manifest.write_pins(man.path, pins) if pins else []
    for art_id, name in written:
        print(f"pinned {art_id}/{name} {pins[(art_id, name)][0]}")
    bad = any(c.status == MISMATCH for _, _, c in rows)
    print(f"{len(written)} member(s) pinned in {man.path}" + ("; some files failed verification" if bad else ""),
          file=sys.stderr)
    return 1 if bad else 0
