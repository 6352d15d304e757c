"""How often the audit's clip-bootstrap interval covers what it estimates, at the audit's design.

The audit's headline is the mean per-fold ROC-AUC over k folds of whole test clips, with a
95% percentile interval from resampling clips (``protocol/stats.py``). With about a dozen
clips (Ped2 has 12) a percentile bootstrap of a clustered statistic is known to cover less
than its nominal level. This simulates the design and prints the coverage, so the audit's
text can state it rather than assume 95%.

Simulated clips: frames of binormal scores with a clip random effect. Two clip mixes:

- ``simple`` (``tests/test_stats.py``'s process): 20 frames a clip, a third of the clips all
  normal, the rest abnormal from a random onset (about a third of the frames abnormal); one run.
- ``ped2``: closer to the real Ped2 test set: 160 frames a clip, every clip abnormal from an
  onset in frames 10-50 (about 80% of the frames abnormal, as Ped2's 1,648 of 2,010), the
  class shift itself varying from clip to clip (sd ``TAU``: some clips' anomalies are easy,
  some hard, as Ped2's within-clip AUCs are), and 5 runs, each its own partition and its own
  frame noise around the same clip effects.

Each simulated audit draws ``n_clips`` clips, deals them at random into ``folds`` folds (per
run) and takes the statistic and its interval (1,000 resamples). The estimand is the
statistic's expectation at that design, from ``--truth-draws`` independent audits: a
design-dependent quantity (the mean per-fold AUC of folds of about n/k clips), which is what
the audit's interval is for. The trained models are not simulated: the scores are given, as
the interval conditions on the fitted models.

    python bench/bootstrap_coverage.py [--sims 400] [--clips 12 30 60] [--folds 4] [--mix simple|ped2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from anomaly_ref.protocol.stats import Scores, bootstrap, statistic  # noqa: E402
from anomaly_ref.provenance import git_state  # noqa: E402

MU, TAU, FRAMES = 1.0, 0.7, 20  # class shift, sd of the clip effect (frame noise sd 1), frames per clip


def audit_scores(rng: np.random.Generator, n_clips: int, folds: int, mix: str = "simple") -> Scores:
    frames, runs = (20, 1) if mix == "simple" else (160, 5)
    if mix == "simple":
        onset = rng.integers(4, frames - 3, n_clips)
        onset[rng.random(n_clips) < 1 / 3] = frames
    else:
        onset = rng.integers(10, 51, n_clips)
    y = np.arange(frames) >= onset[:, None]
    effect = rng.normal(0, TAU, (n_clips, 1))
    shift = MU if mix == "simple" else MU + rng.normal(0, TAU, (n_clips, 1))
    clip = np.repeat(np.arange(n_clips), frames)
    cols = {k: [] for k in ("run", "fold", "clip", "index", "label", "score")}
    for r in range(runs):
        s = effect + shift * y + rng.normal(size=(n_clips, frames))
        fold_of_clip = rng.permutation(np.arange(n_clips) % folds)
        for k, v in (("run", np.full(clip.shape, r)), ("fold", fold_of_clip[clip]), ("clip", clip),
                     ("index", np.tile(np.arange(frames), n_clips)), ("label", y.ravel().astype(int)),
                     ("score", s.ravel())):
            cols[k].append(v)
    return Scores(**{k: np.concatenate(v) for k, v in cols.items()})


def coverage(n_clips: int, folds: int, sims: int, truth_draws: int, name: str, seed: int, mix: str) -> dict:
    rng = np.random.default_rng(seed)
    truth = float(np.nanmean([statistic(audit_scores(rng, n_clips, folds, mix), name) for _ in range(truth_draws)]))
    hits, widths = [], []
    for k in range(sims):
        b = bootstrap(audit_scores(rng, n_clips, folds, mix), name, n_resamples=1000, rng=k)
        if np.isfinite(b.low) and np.isfinite(b.high):
            hits.append(b.low <= truth <= b.high)
            widths.append(b.high - b.low)
    p = float(np.mean(hits))
    return {"clips": n_clips, "folds": folds, "statistic": name, "truth": truth, "coverage": p,
            "se": float(np.sqrt(p * (1 - p) / len(hits))), "width": float(np.median(widths)), "sims": len(hits)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400, help="simulated audits per row (default 400)")
    ap.add_argument("--clips", type=int, nargs="+", default=[12, 30, 60], help="test clips per audit")
    ap.add_argument("--folds", type=int, default=4, help="folds over the clips (default 4, as the audit)")
    ap.add_argument("--truth-draws", type=int, default=4000, help="audits averaged for the estimand")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mix", choices=("simple", "ped2"), default="simple", help="the clip mix (see above)")
    args = ap.parse_args()
    start = time.perf_counter()
    rows = [coverage(n, args.folds, args.sims, args.truth_draws, name, args.seed + n, args.mix)
            for n in args.clips for name in ("mean_fold_auc", "rank_pooled_auc")]
    git = git_state()
    print(f"commit {git.get('commit', '?')[:7]}{' (dirty)' if git.get('dirty') else ''}; {platform.processor() or platform.machine()}, "
          f"clip mix {args.mix}, {args.sims} simulated audits per row, 1,000 clip resamples each, nominal 95%; "
          f"{time.perf_counter() - start:.0f} s\n")
    print("| test clips | folds | statistic | estimand | coverage (± binomial se) | median width |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clips']} | {r['folds']} | {r['statistic']} | {r['truth']:.4f} | {r['coverage']:.3f} ± {r['se']:.3f} "
              f"| {r['width']:.3f} |")


if __name__ == "__main__":
    main()
