"""``anomaly-ref audit-diff``: two audits compared on one rung, paired over the clips both score."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import PROTOCOLS

    supervised = [p for p, spec in PROTOCOLS.items() if spec.trains_heads]
    p = sub.add_parser(
        "audit-diff",
        help="compare two audits on one rung: paired clip-bootstrap difference, every differing factor named",
        description=(
            "Read A/audit.json and B/audit.json with their scores.csv.gz (each checked against its sha256) and "
            "give, for each of the paper's recurrent heads and their mean, the mean per-fold ROC-AUC under the "
            "rung in A minus that in B on the original frames of the test clips both audits score, with a 95% "
            "interval from a paired clip bootstrap. Every factor that differs between the two audits "
            "(configuration, construction, clip partitions, code) is listed: the difference measures all of "
            "them together. Prints the Markdown; --out also writes pair.json and pair.md."
        ),
        epilog="example: anomaly-ref audit-diff reference/ped2_audit/lite0_no_early_stopping "
               "reference/ped2_audit/lite0 --rung strict-test-only",
    )
    p.add_argument("a", metavar="A", help="folder of an audit (format 2, with scores.csv.gz): the first side, "
                                          "e.g. reference/ped2_audit/lite0_no_early_stopping")
    p.add_argument("b", metavar="B", help="folder of another audit: the second side (the difference is A − B), "
                                          "e.g. reference/ped2_audit/lite0")
    p.add_argument("--rung", default="strict", choices=supervised,
                   help="the rung compared (default: strict), e.g. --rung strict-test-only")
    p.add_argument("--rung-b", choices=supervised,
                   help="the rung of B if not --rung, e.g. --rung-b strict-test-only")
    p.add_argument("--resamples", type=int, default=1000,
                   help="clip-bootstrap resamples (default: 1000), e.g. --resamples 5000")
    p.add_argument("--seed", type=int, default=0, help="seed of the clip draws (default: 0), e.g. --seed 1")
    p.add_argument("--out", metavar="DIR", help="write pair.json and pair.md here, e.g. --out pairs/es")
    p.add_argument("--force", action="store_true",
                   help="replace a pair.json / pair.md already in --out (default: refuse), e.g. --out pairs/es --force")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import InputError
    from ..fileio import atomic_write_text
    from ..results.audit_pair_text import to_markdown
    from ..studies.audit_pair import compare
    from ..studies.audit_stats import StatsConfig
    from ._checks import check_min, check_out_path

    check_min("--resamples", args.resamples, 100)
    out = check_out_path(args.out) if args.out else None  # before the work, not after it
    if out is not None and not args.force and any((out / n).exists() for n in ("pair.json", "pair.md")):
        raise InputError(f"{out} already holds pair.json or pair.md; give another --out or --force to replace them")
    doc = compare(args.a, args.b, rung=args.rung, rung_b=args.rung_b,
                  config=StatsConfig(n_resamples=args.resamples, seed=args.seed))
    md = to_markdown(doc)
    print(md)
    if out is not None:
        out.mkdir(exist_ok=True)
        atomic_write_text(out / "pair.json", json.dumps(doc, indent=1, default=float) + "\n")
        atomic_write_text(out / "pair.md", md)
        print(f"wrote {out / 'pair.json'}\nwrote {out / 'pair.md'}")
    return 0
