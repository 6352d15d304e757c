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
    archive: str | None = None  # the only archive such files may come from (None: any of the artifact's)
    magic: tuple[tuple[int, bytes], ...] = ()  # (offset, bytes) the file must hold: a video is a video

    def match(self, name: str, archive: str | None = None) -> str | None:
        if archive is not None and self.archive is not None and archive != self.archive:
            return None
        m = re.fullmatch(self.pattern, name)
        return m.group("keep") if m else None

    def magic_problem(self, head: bytes) -> str | None:
        for offset, want in self.magic:
            if head[offset:offset + len(want)] != want:
                return f"does not hold {want!r} at byte {offset} (found {head[:16]!r}): not the file its name says"
        return None


@dataclass(frozen=True)
class Layout:
    name: str
    rules: tuple[Rule, ...]
    required: tuple[tuple[str, str | None], ...]  # (regex over tree paths, the archive that must supply it)
    sources: dict[str, tuple[str, str | None]]  # dataset -> (test frames, training frames) in the tree
    note: str = ""

    def rule(self, name: str, archive: str | None = None) -> tuple[str, Rule] | None:
        """``(tree path, rule)`` of an entry of ``archive`` (None: any), or None when it is not kept."""
        for rule in self.rules:
            kept = rule.match(name, archive)
            if kept is not None:
                return kept, rule
        return None

    def target(self, name: str) -> tuple[str, int] | None:
        """``(tree path, byte bound)`` of a path, or None when the layout does not keep it."""
        hit = self.rule(name)
        return (hit[0], hit[1].max_bytes) if hit else None

    def missing(self, files: list[str]) -> list[tuple[str, str | None]]:
        """The required kinds of file absent from ``files`` (tree paths), with the archive owing each."""
        return [(r, a) for r, a in self.required if not any(re.fullmatch(r, f) for f in files)]

    def check(self, files: list[str], src: str) -> None:
        """Every required kind of file is present among the kept ``files`` (tree paths)."""
        missing = self.missing(files)
        if missing:
            shown = ", ".join(files[:3]) or "nothing"
            owed = f" (from {missing[0][1]})" if missing[0][1] else ""
            raise FetchError(
                f"{src}: not the {self.name} layout: no file matches {missing[0][0]!r}{owed} ({len(files)} expected "
                f"file(s) found: {shown}{'...' if len(files) > 3 else ''}); nothing was installed. It is not "
                "the official archive: fetch it again, use --mirror, or check the file given with --from"
            )


_TOP = r"(?:[^/]+/)?"  # one optional top folder, dropped
_UCSD = r"UCSDped[12]"
_AVI = ((0, b"RIFF"), (8, b"AVI "))  # a RIFF AVI container, whatever its codec
_UCSD_TAR = "UCSD_Anomaly_Dataset.tar.gz"
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
            required=tuple((r, _UCSD_TAR) for r in (
                r"UCSDped1/Test/UCSDped1\.m", r"UCSDped1/Test/Test\d{3}/\d{3}\.tif",
                r"UCSDped1/Train/Train\d{3}/\d{3}\.tif", r"UCSDped2/Test/UCSDped2\.m",
                r"UCSDped2/Test/Test\d{3}/\d{3}\.tif", r"UCSDped2/Train/Train\d{3}/\d{3}\.tif")),
            sources={"ped1": ("UCSDped1/Test", "UCSDped1/Train"), "ped2": ("UCSDped2/Test", "UCSDped2/Train")},
            note="UCSD_Anomaly_Dataset.v1p2/UCSDpedN/{Train,Test}/...; Test/UCSDpedN.m frame ranges; TestNNN_gt masks",
        ),
        Layout(
            "avenue",
            rules=(
                # each kind from its own archive: the demo zip's own copies of anything are skipped
                Rule(_TOP + r"(?P<keep>(?:training|testing)_videos/\d{2}\.avi)", 2048 * MiB, "Avenue_Dataset.zip",
                     _AVI),
                Rule(_TOP + r"(?P<keep>testing_label_mask/\d{1,2}_label\.mat)", 512 * MiB, "ground_truth_demo.zip",
                     ((0, b"MATLAB"),)),
            ),
            required=((r"testing_videos/\d{2}\.avi", "Avenue_Dataset.zip"),
                      (r"training_videos/\d{2}\.avi", "Avenue_Dataset.zip"),
                      (r"testing_label_mask/\d+_label\.mat", "ground_truth_demo.zip")),
            sources={"avenue": (".", "training_videos")},
            note="Avenue_Dataset.zip: {training,testing}_videos/NN.avi; ground_truth_demo.zip: "
                 "testing_label_mask/N_label.mat (volLabel: per-frame masks)",
        ),
        Layout(
            "umn",
            rules=(Rule(r"(?P<keep>Crowd-Activity-All\.avi)", 4096 * MiB, magic=_AVI),),
            required=((r"Crowd-Activity-All\.avi", "Crowd-Activity-All.avi"),),
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
