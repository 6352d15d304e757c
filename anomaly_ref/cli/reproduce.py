"""``anomaly-ref reproduce``: retrain heads on one normal/anomaly feature pair."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..registry import DATASETS, HEADS, PROTOCOLS, paper_backbones
    from ._checks import add_trainer_options
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
            "example: anomaly-ref reproduce --normal normal_features_convnext_tiny.npy "
            "--anomaly anomaly_features_convnext_tiny.npy --head LSTM --out lstm.json"
        ),
    )
    src = p.add_argument_group("features: either two files, or a dataset and extractor to fetch")
    src.add_argument("--normal", metavar="N.npy", help="normal_features_<backbone>.npy (N0, D)")
    src.add_argument("--anomaly", metavar="A.npy", help="anomaly_features_<backbone>.npy (N1, D)")
    src.add_argument("--dataset", choices=list(DATASETS), help="fetch the authors' features of this dataset")
    src.add_argument("--extractor", choices=paper_backbones(), help="backbone whose features to fetch")
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
    import dataclasses

    from ..data.featurefiles import construction_of
    from ..errors import InputError
    from ..fileio import atomic_write_text, dumps_json
    from ..protocol.features import load_frames
    from ..protocol.metrics import format_summary
    from ..protocol.runner import ProtocolConfig, run_protocol
    from ..provenance import collect
    from ..registry import get_protocol
    from ..results.compare import diff, format_diff, paper_summary
    from ._checks import check_min, check_out_path, resolve_device, train_config

    # Every value a user typed is checked before any download or training, so a typo
    # never costs a finished run.
    heads = _heads(args.head)
    protocol = get_protocol(args.protocol)
    check_min("--runs", args.runs, 1)
    check_min("--max-epochs", args.max_epochs, 1)
    check_min("--folds", args.folds, 2)
    device = resolve_device(args.device)
    out = check_out_path(args.out) if args.out else None
    normal, anomaly = _feature_paths(args)
    data = load_frames(normal, anomaly)
    if protocol.needs_clips and data.clips is None:
        raise InputError(
            f"--protocol {protocol.name} needs the clip of every frame, and {normal} has no "
            ".frames.csv sidecar (the authors' Dropbox features have none): features written "
            "by 'anomaly-ref extract' have them; without them only paper and paper-val can run"
        )
    reference = None
    if args.dataset and args.extractor:
        from ..results.workbook import load_reference

        reference = load_reference()
    n_normal = int((data.y == 0).sum())
    print(f"features: {n_normal} normal + {len(data.y) - n_normal} anomaly frames, dim {data.X.shape[1]}")
    config = ProtocolConfig(
        n_runs=args.runs, model_seed=args.seed, n_folds=args.folds,
        train=train_config(args),
    )
    # Provenance is taken before training: the code and inputs as they were when the run began.
    prov = collect(
        config=dataclasses.asdict(config) | {"heads": heads, "protocol": protocol.name},
        seeds=config.seeds(protocol),
        inputs=[normal, anomaly],
        device=device,
    )
    print(f"protocol: {protocol.name} ({protocol.description})")
    results = []
    for head in heads:
        res = run_protocol(protocol, data, head, config, device=device)
        print(format_summary(res.summary, head, len(res.runs)))
        entry = res.to_dict()
        published = reference is not None and paper_summary(reference, args.dataset, args.extractor, head)
        if published:
            print("compared with the paper (same configuration):")
            print(format_diff(diff(res.summary, published)))
            entry["paper"] = {m: {"mean": mu, "std": sd} for m, (mu, sd) in published.items()}
        results.append(entry)
    if out:
        # "kind", "dataset" and "extractor" let 'anomaly-ref report' read the file on its own
        # (the extractor is known from --extractor or the paper's feature-file names).
        # The authors' files are the paper's construction; our own say theirs in the extraction record.
        construction = "paper" if args.dataset and args.extractor else construction_of(normal)
        doc = {"kind": "reproduce", "dataset": args.dataset, "extractor": _extractor(args, normal),
               "construction": construction, "results": results, "provenance": prov}
        atomic_write_text(out, dumps_json(doc))  # never a half-written result; NaN as null
        print(f"wrote {out}")
    return 0


def _extractor(args: argparse.Namespace, normal) -> str | None:
    """--extractor, else the backbone the paper's file name ``normal_features_<backbone>.npy`` says."""
    from ..data.featurefiles import backbone_of
    from ..registry import BACKBONES

    if args.extractor:
        return args.extractor
    backbone = backbone_of(normal)
    return backbone if backbone in BACKBONES else None


def _feature_paths(args: argparse.Namespace):
    from ..errors import InputError

    if args.normal or args.anomaly:
        if not (args.normal and args.anomaly) or args.dataset or args.extractor:
            raise InputError("give both --normal and --anomaly, or --dataset and --extractor (not a mix)")
        return args.normal, args.anomaly
    if not (args.dataset and args.extractor):
        raise InputError("no features given: use --normal N.npy --anomaly A.npy, or --dataset D --extractor E")
    from ..data import fetch

    return fetch.features(  # every download option of add_source_options, as for 'fetch'
        args.dataset, args.extractor, cache=args.cache, manifest=args.manifest, mirror=args.mirror,
        offline=args.offline, require_pinned=args.require_pinned, retries=args.retries, timeout=args.timeout,
    )
