"""The reproduction study: one feature pair, the paper protocol (or another supervised rung),
one or more heads, one ``reproduce`` result document.

In: the normal/anomaly feature files of one (dataset, extractor) pair, as the authors
published them or as ``anomaly-ref extract`` wrote them. Out::

    {"kind": "reproduce", "dataset", "extractor", "construction",
     "results": [ProtocolResult.to_dict() per head], "provenance"}

``anomaly-ref reproduce`` and the reproduction bench (``bench/test_reproduce.py``) both run
a configuration through :func:`load` then :func:`run`; comparing the figures with the
paper's is the reader's job (:mod:`anomaly_ref.results.compare`), so it is not done here.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InputError
from ..protocol.features import FrameFeatures
from ..protocol.records import ProtocolResult
from ..protocol.runner import ProtocolConfig
from ..registry import get_head, get_protocol


@dataclass(frozen=True)
class ReproduceConfig:
    heads: tuple[str, ...] = ("LSTM",)  # registry names, trained in this order
    protocol: str = "paper"  # a supervised rung of registry.PROTOCOLS
    run: ProtocolConfig = field(default_factory=ProtocolConfig)  # runs, seeds, folds, trainer

    def __post_init__(self):
        spec = get_protocol(self.protocol)  # unknown names raise, listing the valid ones
        if spec.needs_train_frames:
            raise InputError(f"protocol {spec.name!r} needs normal training frames: use 'anomaly-ref audit'")
        for head in self.heads:
            get_head(head)
        if not self.heads:
            raise InputError("no head selected")


def load(normal: str | os.PathLike, anomaly: str | os.PathLike, protocol: str = "paper") -> FrameFeatures:
    """The pair as frames (clips from ``.frames.csv`` sidecars where they exist); an
    InputError when ``protocol`` needs clip ids the files do not carry."""
    from ..protocol.features import load_frames

    spec = get_protocol(protocol)
    data = load_frames(normal, anomaly)
    if spec.needs_clips and data.clips is None:
        raise InputError(
            f"--protocol {spec.name} needs the clip of every frame, and {normal} has no "
            ".frames.csv sidecar (the authors' Dropbox features have none): features written "
            "by 'anomaly-ref extract' have them; without them only paper and paper-val can run"
        )
    return data


def run(data: FrameFeatures, config: ReproduceConfig, *, inputs: Sequence[str | os.PathLike] = (),
        device: str = "cpu", dataset: str | None = None, extractor: str | None = None,
        construction: str | None = None,
        on_result: Callable[[str, ProtocolResult], Any] | None = None) -> dict[str, Any]:
    """Train and score every head of ``config`` on ``data``: the ``reproduce`` document.

    inputs : the files ``data`` was read from, hashed into the provenance.
    construction : how the feature files were built (``paper``: the authors' recipe).
    on_result : called with ``(head, result)`` as each head finishes (progress, printing).
    """
    from ..protocol.runner import run_protocol
    from ..provenance import collect

    spec = get_protocol(config.protocol)
    # Provenance is taken before training: the code and inputs as they were when the run began.
    prov = collect(
        config=dataclasses.asdict(config.run) | {"heads": list(config.heads), "protocol": spec.name},
        seeds=config.run.seeds(spec),
        inputs=[Path(p) for p in inputs],
        device=device,
    )
    results = []
    for head in config.heads:
        res = run_protocol(spec, data, head, config.run, device=device)
        if on_result is not None:
            on_result(head, res)
        results.append(res.to_dict())
    return {"kind": "reproduce", "dataset": dataset, "extractor": extractor, "construction": construction,
            "results": results, "provenance": prov}


def construction_of_files(normal: str | os.PathLike, fetched: bool) -> str | None:
    """The authors' fetched files are the paper's construction; ours say which in their extraction record."""
    from ..data.featurefiles import construction_of

    return "paper" if fetched else construction_of(normal)


def extractor_of_files(normal: str | os.PathLike) -> str | None:
    """The backbone the paper's file name ``normal_features_<backbone>.npy`` names, if it is one we know."""
    from ..data.featurefiles import backbone_of
    from ..registry import BACKBONES

    backbone = backbone_of(normal)
    return backbone if backbone in BACKBONES else None
