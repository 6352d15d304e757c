"""``anomaly-ref reproduce``: retrain heads on one normal/anomaly feature pair."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import DATASETS, HEADS, PROTOCOLS, paper_backbones
    from ._checks import add_backbone_option, add_trainer_options
    from .fetch import add_source_options

    p = sub.add_parser(
        "reproduce",
        help="retrain sequence heads on a feature pair under the paper protocol (or another rung)",
        description=(
            "Run the paper protocol (PROTOCOL.md §4-§6) on one pair of feature files: shuffle "
            "frames (seed 42), build windows of 10, then for each run r split 80/20 stratified "
            "with random_state=r, train with early stopping on the test split, and score. "
            "Prints the workbook-style summary (mean ± population std) per head. --protocol "
            "picks another rung of the audit ladder; rungs that need clip ids (temporal, "
            "strict) read the .frames.csv sidecars that 'anomaly-ref extract' writes."
        ),
        epilog=(
            "example: anomaly-ref reproduce --dataset ped2 --backbone convnext_tiny --head all --out ped2.json "
            "(or, on files: --normal normal_features_convnext_tiny.npy --anomaly anomaly_features_convnext_tiny.npy)"
        ),
    )
    src = p.add_argument_group("features: either two files, or a dataset and backbone to fetch")
    src.add_argument("--normal", metavar="N.npy", help="normal_features_<backbone>.npy (N0, D)")
    src.add_argument("--anomaly", metavar="A.npy", help="anomaly_features_<backbone>.npy (N1, D)")
    src.add_argument("--dataset", choices=list(DATASETS), help="fetch the authors' features of this dataset")
    add_backbone_option(src, paper_backbones(), "backbone whose features to fetch", alias=True)
    add_source_options(src)  # --manifest, --cache, --mirror, --offline, ... as for fetch
    p.add_argument(
        "--head", action="append", metavar="NAME",
        help=f"head to train, repeatable, or 'all' for the paper's four (choices: {', '.join(HEADS)}; default LSTM)",
    )
    p.add_argument(
        "--protocol", default="paper", choices=[n for n, pr in PROTOCOLS.items() if not pr.needs_train_frames],
        help="protocol (default paper); 'standard' needs training frames: use 'anomaly-ref audit'",
    )
    p.add_argument("--folds", type=int, default=4, help="strict only: clip-grouped folds (default 4)")
    p.add_argument("--runs", type=int, default=5, help="number of runs (split seeds 0..runs-1; default 5)")
    p.add_argument("--seed", type=int, default=0,
                   help="model/dropout seed of run 0; run r uses seed+r, strict's fold f seed+r+1000f (default 0)")
    p.add_argument("--max-epochs", type=int, default=50, help="epoch cap (default 50, as the paper)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_trainer_options(p)
    p.add_argument("--out", metavar="JSON", help="write per-run metrics, summary and provenance here")
    p.set_defaults(func=_run)


def _heads(names: list[str] | None) -> list[str]:
    from ..registry import get_head, paper_heads

    if not names:
        return ["LSTM"]
    out: list[str] = []
    for n in names:  # 'all' expands to the paper's four, in workbook order
        for head in paper_heads() if n == "all" else [get_head(n).name]:
            if head not in out:
                out.append(head)
    return out


def _run(args: argparse.Namespace) -> int:
    from ..fileio import atomic_write_text, dumps_json
    from ..protocol.metrics import format_summary
    from ..protocol.runner import ProtocolConfig
    from ..registry import get_protocol
    from ..results.compare import diff, format_diff, paper_summary
    from ..studies import reproduce
    from ._checks import check_min, check_out_path, resolve_device, train_config

    # Every value a user typed is checked before any download or training, so a typo
    # never costs a finished run.
    check_min("--runs", args.runs, 1)
    check_min("--max-epochs", args.max_epochs, 1)
    check_min("--folds", args.folds, 2)
    config = reproduce.ReproduceConfig(
        heads=tuple(_heads(args.head)), protocol=args.protocol,
        run=ProtocolConfig(n_runs=args.runs, model_seed=args.seed, n_folds=args.folds, train=train_config(args)),
    )
    device = resolve_device(args.device)
    out = check_out_path(args.out) if args.out else None
    normal, anomaly = _feature_paths(args)
    data = reproduce.load(normal, anomaly, config.protocol)
    fetched = bool(args.dataset and args.backbone)
    reference = None
    if fetched:
        from ..results.workbook import load_reference

        reference = load_reference()
    n_normal = int((data.y == 0).sum())
    print(f"features: {n_normal} normal + {len(data.y) - n_normal} anomaly frames, dim {data.X.shape[1]}")
    protocol = get_protocol(config.protocol)
    print(f"protocol: {protocol.name} ({protocol.description})")
    published = {head: reference is not None and paper_summary(reference, args.dataset, args.backbone, head)
                 for head in config.heads}

    def show(head, res):
        print(format_summary(res.summary, head, len(res.runs)))
        if published[head]:
            print("compared with the paper (same configuration):")
            print(format_diff(diff(res.summary, published[head])))

    # "kind", "dataset" and "extractor" let 'anomaly-ref report' read the file on its own
    # (the extractor is known from --backbone or the paper's feature-file names).
    doc = reproduce.run(data, config, inputs=[normal, anomaly], device=device, dataset=args.dataset,
                        extractor=args.backbone or reproduce.extractor_of_files(normal),
                        construction=reproduce.construction_of_files(normal, fetched), on_result=show)
    for entry in doc["results"]:  # the published figures travel with ours, for the reader
        if published[entry["head"]]:
            entry["paper"] = {m: {"mean": mu, "std": sd} for m, (mu, sd) in published[entry["head"]].items()}
    if out:
        atomic_write_text(out, dumps_json(doc))  # never a half-written result; NaN as null
        print(f"wrote {out}")
    return 0


def _feature_paths(args: argparse.Namespace):
    from ..errors import InputError

    if args.normal or args.anomaly:
        if not (args.normal and args.anomaly) or args.dataset or args.backbone:
            raise InputError("give both --normal and --anomaly, or --dataset and --backbone (not a mix)")
        return args.normal, args.anomaly
    if not (args.dataset and args.backbone):
        raise InputError("no features given: use --normal N.npy --anomaly A.npy, or --dataset D --backbone B")
    from ..data import fetch

    return fetch.features(  # every download option of add_source_options, as for 'fetch'
        args.dataset, args.backbone, cache=args.cache, manifest=args.manifest, mirror=args.mirror,
        offline=args.offline, require_pinned=args.require_pinned, retries=args.retries, timeout=args.timeout,
    )
