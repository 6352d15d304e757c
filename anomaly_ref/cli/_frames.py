"""``--source`` made optional: a study's frames from the dataset's official archive.

``audit``, ``standard``, ``gradcam`` and ``extract`` share these options; when ``--source`` is absent the
frames (and the training clips, where the study uses them) come from
:func:`anomaly_ref.data.framesets.frames`, fetched and unpacked on first use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SOURCE_HELP = ("default: the dataset's official frames, fetched and unpacked into the cache on first use "
               "(anomaly-ref fetch --dataset D --only frames; docs/fetch.md)")


def add_frames_options(p: argparse.ArgumentParser) -> None:
    """--mirror, --offline, --frames-from and --frames-cache: how the official frames are fetched."""
    g = p.add_argument_group("official frames (used when --source is not given)")
    g.add_argument("--mirror", help="base URL serving <mirror>/frames/<archive name> (default: $ANOMALY_REF_MIRROR)")
    g.add_argument("--offline", action="store_true", default=None,
                   help="never download the frames; the cache must hold them ($ANOMALY_REF_OFFLINE=1)")
    g.add_argument("--frames-from", metavar="PATH",
                   help="install the frames from a local copy: the archive, a folder holding it, or its unpacked folder")
    g.add_argument("--frames-cache", metavar="DIR",
                   help="where fetched frames live (default: $ANOMALY_REF_CACHE, else the platform cache dir)")


def frame_sources(args: argparse.Namespace, dataset: str, train: bool = True) -> tuple[Path, Path | None]:
    """``(test frames, training frames)``: ``--source`` / ``--train-source`` as given, else the
    dataset's official archive, fetched (or found in the cache) with the options above, its
    training clips filling a missing ``--train-source`` when ``train``; one line on stderr says which."""
    source, train_source = args.source, getattr(args, "train_source", None)
    if source is not None:
        return source, train_source
    from ..data import framesets

    tree = framesets.frames(dataset, cache=args.frames_cache, mirror=args.mirror, offline=args.offline,
                            source=args.frames_from, progress=sys.stderr.isatty())
    print(f"{dataset}: official frames {tree.test} ({tree.origin})", file=sys.stderr)
    return tree.test, train_source or (tree.train if train else None)
