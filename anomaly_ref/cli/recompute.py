"""``anomaly-ref recompute``: an audit's statistics and overlaps again, from what it kept."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recompute",
        help="recompute an audit's statistics from its scores.csv.gz (no extraction, no training)",
        description=(
            "Read AUDIT_DIR/audit.json and the scores.csv.gz it names (checked against the sha256 it "
            "records), recompute every statistic (per-fold, rank-pooled, raw pooled and within-clip AUC, "
            "clip-bootstrap intervals, base-rate and label-permutation chance references, paired "
            "comparisons, strict beside standard) from those scores and the labels and clips of the audit's "
            "source, rebuild every split from the recorded config (checked fold by fold against the recorded "
            "sizes and test clips) to recompute the train/test overlap shares, and write audit.json, audit.md "
            "and audit.png again (the score file is kept as it is). "
            "The document records who recomputed it and from which file."
        ),
        epilog="example: anomaly-ref recompute reference/ped2_audit/lite0 --permutations 1000",
    )
    p.add_argument("audit", metavar="AUDIT_DIR", help="folder of an audit written by 'anomaly-ref audit' (format 2)")
    p.add_argument("--source", help="the audit's test frames or feature folder, if not where audit.json says "
                                    "(only labels and clips are read)")
    p.add_argument("--resamples", type=int, help="clip-bootstrap resamples (default: as recorded)")
    p.add_argument("--permutations", type=int, help="label permutations (default: as recorded)")
    p.add_argument("--seed", type=int, help="seed of every draw (default: as recorded)")
    p.add_argument("--out", metavar="DIR", help="write here instead of AUDIT_DIR (the score file is copied along)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from ..errors import InputError
    from ..results.audit_report import write_audit
    from ..studies.recompute import recompute
    from ._checks import check_min, check_out_path

    for flag, value, low in (("--resamples", args.resamples, 100), ("--permutations", args.permutations, 100)):
        if value is not None:
            check_min(flag, value, low)
    folder = Path(args.audit)
    if not (folder / "audit.json").is_file():
        raise InputError(f"{folder}: no audit.json there (give the folder 'anomaly-ref audit --out' wrote)")
    overrides = {k: v for k, v in (("n_resamples", args.resamples), ("n_permutations", args.permutations),
                                   ("seed", args.seed)) if v is not None}
    out = check_out_path(args.out) if args.out else folder
    doc = recompute(folder, source=args.source, overrides=overrides)
    if out != folder:
        out.mkdir(exist_ok=True)
        shutil.copyfile(folder / doc["audit"]["scores_file"], out / doc["audit"]["scores_file"])
    for path in write_audit(doc, out).values():
        print(f"wrote {path}")
    return 0
