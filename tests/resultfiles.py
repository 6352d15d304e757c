"""Synthetic result files for the report tests: entries with known verdicts against the
published table, written as the suite writes them."""

from __future__ import annotations

import json
from pathlib import Path

from anomaly_ref import registry
from anomaly_ref.results.workbook import load_reference

PROV = {"git": {"commit": "0" * 40, "dirty": False}, "utc": "2026-01-01T00:00:00+00:00",
        "versions": {"anomaly_ref": "0.1.0"}, "device": {"device": "cpu"},
        "seeds": {"split": [0, 1]}, "inputs": {"normal_features_x.npy": "ab" * 32},
        "argv": ["/usr/bin/anomaly-ref", "reproduce", "--dataset", "ped2"]}


def entry(dataset: str, extractor: str, head: str, summary: dict, protocol: str = "paper", n_runs: int = 2) -> dict:
    """A result entry as ``reproduce --out`` writes it, runs scattered around the summary."""
    runs = [{"run": r, "split_seed": r, "model_seed": r,
             "metrics": {m: summary[m][0] + (0.001 if r else -0.001) for m in registry.METRICS}}
            for r in range(n_runs)]
    return {"dataset": dataset, "extractor": extractor, "head": head, "protocol": protocol, "config": {},
            "runs": runs, "summary": {m: {"mean": mu, "std": sd} for m, (mu, sd) in summary.items()}}


def paper(dataset: str, extractor: str, head: str, shift: float = 0.0) -> dict:
    """The published summary of a configuration, every mean moved by ``shift`` (clipped to [0, 1])."""
    ref = load_reference()
    rows = ref[(ref.dataset == dataset) & (ref.extractor == extractor) & (ref.model == head)]
    return {r.metric: (min(1.0, max(0.0, r.mean + shift)), r.std) for r in rows.itertuples()}


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def mixed_sweep(path: Path) -> tuple[Path, dict]:
    """A sweep file whose verdicts are known by construction; returns it and the expected
    summary line: 1 configuration exactly as published (5 cells ok), 1 far off (5 off),
    1 failed, 1 not run, 1 not a paper configuration (5 unpublished)."""
    far = paper("ped2", "repvgg_a0", "GRU")
    far = {m: (0.2 if mu > 0.5 else 0.9, sd) for m, (mu, sd) in far.items()}
    results = [
        entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM")),
        entry("ped2", "repvgg_a0", "GRU", far),
        {"dataset": "ped2", "extractor": "mobileone_s0", "head": "LSTM", "protocol": "paper",
         "error": "RuntimeError: boom"},
        {"dataset": "ped2", "extractor": "poolformer_s12", "head": "SimpleRNN", "protocol": "paper",
         "error": "features unavailable", "not_run": True},
        entry("ped2", "tf_efficientnet_lite0", "Dense", {m: (0.9, 0.01) for m in registry.METRICS}),
    ]
    doc = {"kind": "sweep", "results": results, "counts": {}, "rows": [], "provenance": PROV}
    expected = {"configurations": 5, "ran": 3, "ok": 5, "off": 5, "error": 1, "not run": 1, "unpublished": 5}
    return write(path, doc), expected


def unreachable_sweep(out: Path, dataset: str = "ped1") -> tuple[Path, Path]:
    """``reproduce.json`` and ``reproduce.md`` as the bench writes them when ``dataset``'s
    features cannot be had (bench/test_reproduce.py, ``Sweep.failed``): the first case failed
    with the fetch error, every later one is not run with the bench's reason, which carries a
    "not run:" prefix of its own. Written by the bench's writer (``report.write``)."""
    from anomaly_ref.results import report

    cases = [(b, h) for b in registry.paper_backbones() for h in registry.paper_heads()]
    first = f"{dataset}/{cases[0][0]}/{cases[0][1]}"
    fetch = ("FetchError: cannot connect to www.dropbox.com (not retried) | DNS failure; ways out: "
             "--from PATH, --offline")
    results, rows = [], []
    for i, (b, h) in enumerate(cases):
        keys = dict(dataset=dataset, extractor=b, head=h, protocol="paper")
        error = fetch if i == 0 else f"not run: the {dataset} features could not be had (see the failure of {first})"
        results.append({**keys, "error": error, "not_run": i > 0})
        rows.append(report.Row(**keys, error=error, not_run=i > 0))
    return report.write(rows, out, "reproduce", PROV, extra={"kind": "sweep", "results": results})
