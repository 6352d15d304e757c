"""Checks of command-line values a user types, shared by the subcommands.

Each check returns the value to use or raises :class:`~anomaly_ref.errors.InputError`
with a message that names the flag, the value found and what to do, so the CLI prints
one ``error:`` line instead of a traceback. The options several subcommands share are
added here too, so they are spelled once. No ``register`` here: this is not a subcommand.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def resolve_device(text: str) -> str:
    """``--device`` value -> a torch device string (``cpu``, ``cuda`` or ``cuda:N``).

    Raises InputError for anything else (e.g. ``gpu``), for ``cpu:N``, and for a CUDA
    device this machine does not have (``torch.cuda.is_available()`` is False, or N is
    not below ``torch.cuda.device_count()``).
    """
    value = str(text).strip().lower()
    match = _DEVICE.match(value)
    if match is None or (match.group(1) == "cpu" and match.group(2) is not None):
        raise InputError(f"--device {text!r} is not a device: use cpu, cuda or cuda:N (e.g. cuda:0)")
    if match.group(1) == "cpu":
        return "cpu"
    import torch  # only here: `anomaly-ref --help` must not import torch

    if not torch.cuda.is_available():
        raise InputError(f"--device {text!r} asks for CUDA, but torch finds no CUDA device on this "
                         "machine (torch.cuda.is_available() is False): use --device cpu")
    index = match.group(2)
    if index is not None and int(index) >= torch.cuda.device_count():
        raise InputError(f"--device {text!r}: this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s), numbered from 0: use --device cuda:0 .. "
                         f"cuda:{torch.cuda.device_count() - 1}")
    return value


def check_out_path(path: str | os.PathLike) -> Path:
    """An output path (file or folder) whose parent folder exists and is writable -> Path.

    The path itself need not exist. Raises InputError naming the parent folder otherwise.
    """
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write {out}: {parent} is a file, not a folder (choose another output path)")
    if not parent.is_dir():
        raise InputError(f"cannot write {out}: its folder {parent} does not exist (create it, "
                         "or choose another output path)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {out}: its folder {parent} is not writable (choose another output path)")
    return out


def check_min(name: str, value: int, minimum: int) -> int:
    """``value`` if it is >= ``minimum``; else InputError naming ``name`` (e.g. ``--limit``)."""
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, found {value}")
    return value


def add_backbone_option(parser, names, what: str, *, required: bool = False, alias: bool = False) -> None:
    """``--backbone NAME`` (``args.backbone``), one of ``names``; ``what`` says what it picks.

    ``alias``: ``--extractor`` is accepted too, the name ``reproduce``, ``report`` and
    ``fetch`` used before every subcommand said ``--backbone`` (commands recorded in
    reference/*.md and result files keep working).
    """
    flags = ("--backbone", "--extractor") if alias else ("--backbone",)
    older = "; --extractor is its older name" if alias else ""
    parser.add_argument(*flags, dest="backbone", metavar="NAME", choices=list(names), required=required,
                        help=f"{what} (one of: {', '.join(names)}{older})")


def add_trainer_options(parser) -> None:
    """--sequential and --precision, shared by the commands that train heads."""
    parser.add_argument("--sequential", action="store_true",
                        help="train the fits one after another instead of all at once (same draws, same results "
                             "to float rounding on the CPU; for comparison)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="batched trainer: bf16 runs the wide input matmuls in bfloat16 (faster, not Keras' "
                             "float32 arithmetic; default fp32)")
    parser.add_argument("--early-stopping", choices=["paper", "off"], default="paper",
                        help="paper (default): patience 5 on the validation loss, best weights restored, as the "
                             "notebooks; off: train every epoch up to --max-epochs and score the last weights "
                             "(to measure whether early stopping leaves heads under-trained)")


def train_config(args):
    """The TrainConfig of the trainer flags (and --max-epochs); a conflicting pair is an InputError."""
    import dataclasses

    from ..protocol.train import TrainConfig

    if args.sequential and args.precision != "fp32":
        raise InputError(f"--precision {args.precision} needs the batched trainer; drop --sequential")
    stopping = {} if getattr(args, "early_stopping", "paper") == "paper" else {
        "patience": args.max_epochs + 1, "restore_best_weights": False}  # never fires, nothing restored
    return dataclasses.replace(TrainConfig(), max_epochs=args.max_epochs, precision=args.precision,
                               trainer="sequential" if args.sequential else "batched", **stopping)
