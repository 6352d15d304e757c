"""The official frame archives' layouts, as data: which entries an archive may contribute,
where each lands in the unpacked tree, how large each may be, and where a dataset's test
and training frames then are.

An entry is kept only when a ``keep`` rule matches its path; the rule's ``keep`` group is
its path in the tree (one optional top folder, such as ``UCSD_Anomaly_Dataset.v1p2/`` or
``Avenue Dataset/``, is dropped), so every tree of one layout looks the same whichever
archive, mirror or unpacked copy it came from. Anything else in an archive (macOS forks,
``.DS_Store``, demo scripts) is skipped, never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FetchError

MiB = 1 << 20
MAX_TREE_BYTES = 24 << 30  # a whole unpacked dataset (UCSD: about 1.6 GB; Avenue's videos: about 2 GB)
MAX_ENTRIES = 200_000  # entries an archive may list (UCSD: about 20,000 files)


@dataclass(frozen=True)
class Rule:
    pattern: str  # regex over an archive entry's POSIX path; group "keep" = its path in the tree
    max_bytes: int  # the most one such file may hold (a frame, a video, a label file)

    def match(self, name: str) -> str | None:
        m = re.fullmatch(self.pattern, name)
        return m.group("keep") if m else None


@dataclass(frozen=True)
class Layout:
    name: str
    rules: tuple[Rule, ...]
    required: tuple[str, ...]  # regexes over tree paths: each must match at least one kept file
    sources: dict[str, tuple[str, str | None]]  # dataset -> (test frames, training frames) in the tree
    note: str = ""

    def target(self, name: str) -> tuple[str, int] | None:
        """``(tree path, byte bound)`` of an archive entry, or None when it is not kept."""
        for rule in self.rules:
            kept = rule.match(name)
            if kept is not None:
                return kept, rule.max_bytes
        return None

    def check(self, files: list[str], src: str) -> None:
        """Every required kind of file is present among the kept ``files`` (tree paths)."""
        missing = [r for r in self.required if not any(re.fullmatch(r, f) for f in files)]
        if missing:
            shown = ", ".join(files[:3]) or "nothing"
            raise FetchError(
                f"{src}: not the {self.name} layout: no file matches {missing[0]!r} ({len(files)} expected "
                f"file(s) found: {shown}{'...' if len(files) > 3 else ''}); nothing was installed. It is not "
                "the official archive: fetch it again, use --mirror, or check the file given with --from"
            )


_TOP = r"(?:[^/]+/)?"  # one optional top folder, dropped
_UCSD = r"UCSDped[12]"
LAYOUTS: dict[str, Layout] = {
    lay.name: lay
    for lay in (
        Layout(
            "ucsd",
            rules=(
                Rule(_TOP + rf"(?P<keep>{_UCSD}/(?:Train/Train\d{{3}}|Test/Test\d{{3}})/\d{{3}}\.tif)", 16 * MiB),
                Rule(_TOP + rf"(?P<keep>{_UCSD}/Test/Test\d{{3}}_gt/(?:frame)?\d{{3}}\.bmp)", 16 * MiB),
                Rule(_TOP + rf"(?P<keep>{_UCSD}/Test/UCSDped[12]\.m)", 1 * MiB),
            ),
            required=(r"UCSDped1/Test/UCSDped1\.m", r"UCSDped1/Test/Test\d{3}/\d{3}\.tif",
                      r"UCSDped1/Train/Train\d{3}/\d{3}\.tif", r"UCSDped2/Test/UCSDped2\.m",
                      r"UCSDped2/Test/Test\d{3}/\d{3}\.tif", r"UCSDped2/Train/Train\d{3}/\d{3}\.tif"),
            sources={"ped1": ("UCSDped1/Test", "UCSDped1/Train"), "ped2": ("UCSDped2/Test", "UCSDped2/Train")},
            note="UCSD_Anomaly_Dataset.v1p2/UCSDpedN/{Train,Test}/...; Test/UCSDpedN.m frame ranges; TestNNN_gt masks",
        ),
        Layout(
            "avenue",
            rules=(
                Rule(_TOP + r"(?P<keep>(?:training|testing)_videos/\d{2}\.avi)", 2048 * MiB),
                Rule(_TOP + r"(?P<keep>testing_label_mask/\d{1,2}_label\.mat)", 512 * MiB),
            ),
            required=(r"testing_videos/\d{2}\.avi", r"training_videos/\d{2}\.avi", r"testing_label_mask/\d+_label\.mat"),
            sources={"avenue": (".", "training_videos")},
            note="Avenue_Dataset.zip: {training,testing}_videos/NN.avi; ground_truth_demo.zip: "
                 "testing_label_mask/N_label.mat (volLabel: per-frame masks)",
        ),
        Layout(
            "umn",
            rules=(Rule(r"(?P<keep>Crowd-Activity-All\.avi)", 4096 * MiB),),
            required=(r"Crowd-Activity-All\.avi",),
            sources={"umn": (".", None)},
            note="one video; frames are labelled by a frame_ranges.csv beside it (frames/video.py: open_umn)",
        ),
    )
}


def get_layout(name: str) -> Layout:
    from ..registry import lookup

    return lookup(LAYOUTS, name, "frame archive layout")


def tree_files(tree: Path) -> list[str]:
    """The regular files under ``tree`` as sorted POSIX paths relative to it (markers excluded)."""
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*")
                  if p.is_file() and not p.name.startswith(".anomaly-ref"))
