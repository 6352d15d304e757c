"""Grad-CAM++ results rendered: the scores table, per-frame overlays and a contact sheet.

Input: the document of :func:`anomaly_ref.studies.gradcam.run_gradcam` (plus provenance) and
its kept frames. Everything is pure rendering except :func:`write_gradcam`, which writes
``gradcam.json``, ``gradcam.md``, ``contact_sheet.png`` and ``overlays/*.png`` (each file
atomically; the JSON first, so a rendering failure never loses the computed results).
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..extraction.gradcam import overlay
from ..extraction.localisation import SCORES
from ..fileio import atomic_write_text, dumps_json, replacing
from ..valuefmt import utc_text

SCORE_TITLES = {"pointing_game": "pointing game", "pixel_auc": "pixel ROC-AUC", "topk_iou": "top-k% IoU"}
OUTLINE_RGB = (255, 255, 255)  # mask outline colour on the overlays


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def scores_table(doc: Mapping) -> str:
    """Markdown: one row per method (Grad-CAM++ target/formula, then baselines), one column per score."""
    summary = doc.get("summary") or {}
    if not summary:
        return "(maps not scored: run with --score and pixel masks)\n"
    lines = ["| method | kind | " + " | ".join(SCORE_TITLES[s] for s in SCORES) + " | frames |",
             "|---|---|" + "---|" * len(SCORES) + "---|"]
    for name, row in summary.items():
        lines.append(f"| `{name}` | {row['kind']} | " + " | ".join(_fmt(row[s]) for s in SCORES) + f" | {row['n']} |")
    return "\n".join(lines) + "\n"


def versus_motion(doc: Mapping) -> str:
    """One sentence per Grad-CAM++ method: on which scores it beats the motion baseline."""
    summary = doc.get("summary") or {}
    if "motion" not in summary:
        return ""
    motion = summary["motion"]
    out = []
    for name, row in summary.items():
        if row["kind"] != "gradcam":
            continue
        better = [SCORE_TITLES[s] for s in SCORES if row[s] is not None and row[s] > motion[s]]
        verdict = f"beats motion on {', '.join(better)}" if better else "beats the motion baseline on no score"
        out.append(f"- `{name}`: {verdict} "
                   f"({'; '.join(f'{SCORE_TITLES[s]} {_fmt(row[s])} vs {_fmt(motion[s])}' for s in SCORES)}).")
    return "\n".join(out) + "\n"


def differences_table(doc: Mapping) -> str:
    diffs = doc.get("formula_difference") or {}
    if not diffs:
        return ""
    lines = ["| target | mean abs. difference | Spearman rank correlation | frames |", "|---|---|---|---|"]
    for target, d in diffs.items():
        lines.append(f"| `{target}` | {_fmt(d['mean_abs_diff'])} | {_fmt(d['spearman'])} | {d['n']} |")
    return "\n".join(lines) + "\n"


def to_markdown(doc: Mapping) -> str:
    cfg, tp = doc["config"], doc["throughput"]
    prov = doc.get("provenance", {})
    git = prov.get("git", {})
    parts = [
        f"# Grad-CAM++ on {cfg['backbone']} ({cfg['weights']})", "",
        f"Target layer `{cfg['target_layer']}`; {cfg['frames']} of {cfg['abnormal_frames']} abnormal frames "
        f"({cfg['rows_rule']}).", "",
        "## Localisation against the pixel masks", "", scores_table(doc), versus_motion(doc),
    ]
    if doc.get("formula_difference"):
        parts += ["## The paper's formula vs the textbook one (same activations and gradients)", "",
                  differences_table(doc)]
    if doc.get("anomaly_head"):
        head = doc["anomaly_head"]
        parts += ["## The anomaly head", "", head["rule"] + ".", ""]
        parts += [f"- maps clips {list(f['test_clips'])}: fitted on {f['n_train']} frames "
                  f"({f['n_train_abnormal']} abnormal) of clips {list(f['train_clips'])}; frame ROC-AUC on its "
                  f"{f['n_test']} held-out frames {_fmt(f['test_auc'])}" for f in head["folds"]]
        parts.append("")
    parts += ["## Throughput", "",
              f"{_fmt(tp['maps_per_s'])} maps/s on {tp['device']} (batch {tp['batch_size']}; {tp['counts']}).", ""]
    if prov:
        parts += ["## Provenance", "",
                  f"- command: `{shlex.join(prov.get('argv', []))}`",
                  f"- commit {git.get('commit')} (dirty: {git.get('dirty')}), run at {utc_text(prov.get('utc'))}",
                  f"- wall time {doc.get('wall_seconds', 'n/a')} s", ""]
    return "\n".join(parts)


def outline(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``rgb`` with ``mask``'s outline drawn on it (1 px); unchanged without a mask."""
    import cv2

    if mask is None:
        return rgb
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(np.ascontiguousarray(rgb).copy(), contours, -1, OUTLINE_RGB, 1)


def png_bytes(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def contact_sheet(kept: Mapping, title: str) -> bytes:
    """PNG: one row per kept frame, one column per map (overlays with the mask outlined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(kept["maps"])
    n, cols = len(kept["rows"]), len(methods) + 1
    fig, axes = plt.subplots(n, cols, figsize=(2.4 * cols, 1.75 * n + 0.5), squeeze=False)
    for i in range(n):
        img, mask = kept["images"][i], kept["masks"][i]
        panels = [("frame + mask", outline(img, mask))]
        panels += [(m, outline(overlay(img, kept["maps"][m][i]), mask)) for m in methods]
        for j, (name, pic) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(pic)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
        axes[i, 0].set_ylabel(kept["labels"][i], fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def write_gradcam(doc: Mapping, kept: Mapping, out_dir: str | Path) -> dict[str, Path]:
    """Write the document, its Markdown, the overlays and the contact sheet into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": atomic_write_text(out / "gradcam.json", dumps_json(doc)),
             "md": atomic_write_text(out / "gradcam.md", to_markdown(doc))}
    if kept["rows"]:
        cfg = doc["config"]
        (out / "overlays").mkdir(exist_ok=True)
        files = {}
        for i, label in enumerate(kept["labels"]):
            for m, maps in kept["maps"].items():
                name = f"{label}_{m.replace('/', '_').replace('+', 'p')}.png"
                files[out / "overlays" / name] = png_bytes(outline(overlay(kept["images"][i], maps[i]), kept["masks"][i]))
        sheet = contact_sheet(kept, f"Grad-CAM++ on {cfg['backbone']} ({cfg['weights']}), Ped2 abnormal frames; "
                                    "white: pixel mask")
        files[out / "contact_sheet.png"] = sheet
        with replacing(list(files)) as temps:
            for temp, data in zip(temps, files.values()):
                temp.write_bytes(data)
        paths["sheet"] = out / "contact_sheet.png"
        paths["overlays"] = out / "overlays"
    return paths
