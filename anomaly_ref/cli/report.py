"""``anomaly-ref report``: every result file in one place (HTML, XLSX, PNG, Markdown)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import BACKBONES, DATASETS
    from ._checks import add_backbone_option

    p = sub.add_parser(
        "report",
        help="write report.html, report.xlsx, <dataset>.png and report.md from result files",
        description=(
            "Read any mix of result files the suite writes (reproduce --out, the bench's reproduce.json, "
            "audit.json; older files without a 'kind' field are recognised by their keys), judge every "
            "configuration against the paper's published figures under the tolerance rule, and write into "
            "DIR: report.html (one self-contained page), report.xlsx (the authors' workbook layout, plus "
            "deltas and per-run sheets), one PNG per dataset and report.md. Two files reporting the same "
            "configuration must agree (to float rounding); if they disagree the report refuses. A folder stands "
            "for its *.json files: the bench's records folder (REPORT_DIR/cases, one file per finished case, "
            "written by every pytest-xdist worker) gives the report of a sweep that was interrupted before "
            "it merged them."
        ),
        epilog="example: anomaly-ref report out/runs/lite0.json out/audit/audit.json --dataset ped2 --out report/",
    )
    p.add_argument("results", nargs="*", metavar="RESULT.json", help="result files (one or more), or folders of them (e.g. the bench's REPORT_DIR/cases)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the report into (created if missing)")
    p.add_argument("--tolerance", default="", metavar="SPEC",
                   help='tolerance rule, e.g. "abs=0.01,nstd=3" (the default)')
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="dataset of reproduce files that do not record one (written before they did)")
    add_backbone_option(p, BACKBONES, "backbone of reproduce files that record none and whose feature-file "
                        "names do not say", alias=True)
    p.add_argument("--title", default=None, help="the page's title")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..results import caserecords, full_report
    from ..results.audit_report import finding
    from ..results.compare import Tolerance
    from ._checks import check_out_path

    out = check_out_path(args.out)
    report = full_report.build(caserecords.expand(args.results), Tolerance.parse(args.tolerance), dataset=args.dataset,
                               extractor=args.backbone, title=args.title or full_report.TITLE)
    paths = full_report.write(report, out)
    for t in report.tallies:
        c = t.cells
        print(f"{t.dataset}: {t.configurations} configurations ({t.ran} ran): {c['ok']} cells within tolerance, "
              f"{c['off']} outside, {c['unpublished']} without a published figure; {c['error']} failed, "
              f"{c['not run']} not run")
    for f in report.files:
        if f.kind == "audit":  # its rungs and headline drop; Markdown's `code` quotes read as 'code' here
            print(finding(f.section).replace("`", "'"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
