"""``anomaly-ref reference``: the paper's result workbooks -> reference/paper_results.csv."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Parse the paper's four result workbooks ('Results of Sequential Neural Networks for
{Avenue, UCSD Ped1, UCSD Ped2, UMN}.xlsx') into one table of 480 rows
(dataset, extractor, model, metric, mean, std; 4 decimals as in the workbooks).

Without --out or --check the CSV goes to stdout. --check compares the workbooks with the
reference CSV (--reference; default: the checkout's reference/paper_results.csv, else the
copy installed with anomaly-ref) and exits 1 listing every differing row.
Any cell that cannot be read is an error naming the workbook, sheet and cell."""

EPILOG = """\
examples:
  anomaly-ref reference --paper-dir ../shared/paper --out reference/paper_results.csv
  anomaly-ref reference --paper-dir ../shared/paper --check"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reference",
        help="parse the paper's result workbooks into the reference CSV, or check it",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--paper-dir", metavar="DIR",
        help="folder holding the four .xlsx workbooks (default: $ANOMALY_REF_SHARED/paper)",
    )
    p.add_argument("--out", metavar="CSV", help="write the parsed table to this CSV file")
    p.add_argument(
        "--check", action="store_true",
        help="compare with the reference CSV; exit 1 and list the rows that differ",
    )
    p.add_argument(
        "--reference", metavar="CSV",
        help="reference CSV for --check (default: the checkout's reference/paper_results.csv, else the copy "
             "installed with anomaly-ref)",
    )
    p.set_defaults(func=run)


def _format_diff_row(row) -> str:
    """One differing row as ``avenue convnext_tiny LSTM accuracy: workbook 0.9855 ± 0.0028, csv ...``."""
    from ..valuefmt import format_value

    def side(mean: float, std: float) -> str:
        return "absent" if mean != mean else format_value(mean, std)  # NaN: row on one side only

    return (
        f"  {row.dataset} {row.extractor} {row.model} {row.metric}: "
        f"workbook {side(row.mean_parsed, row.std_parsed)}, csv {side(row.mean_ref, row.std_ref)}"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..results import workbook
    from ..data.paths import shared_root

    paper_dir = Path(args.paper_dir) if args.paper_dir else shared_root() / "paper"
    table = workbook.parse_paper_dir(paper_dir)
    if args.out:
        workbook.write_reference(table, args.out)
        print(f"wrote {len(table)} rows to {args.out}", file=sys.stderr)
    if args.check:
        ref_path = args.reference or workbook.DEFAULT_REFERENCE
        diff = workbook.compare(table, workbook.load_reference(ref_path))
        if len(diff):
            print(f"{len(diff)} rows differ between {paper_dir} and {ref_path}:")
            for row in diff.itertuples(index=False):
                print(_format_diff_row(row))
            return 1
        print(f"ok: {len(table)} rows of {paper_dir} match {ref_path}")
    elif not args.out:
        workbook.write_reference(table, sys.stdout)
    return 0
