"""``anomaly-ref``: one subcommand per job.

Each module in this package that defines ``register(subparsers)`` adds one subcommand;
``register`` must set ``func`` (taking the parsed args, returning an exit code) with
``parser.set_defaults(func=...)`` and import heavy libraries only inside ``func``: names
listed at parse time come from :mod:`anomaly_ref.registry`, so ``--help``, argument errors,
``fetch``, ``manifest`` and ``reference`` never load torch, OpenCV or pytorch-grad-cam
(``tests/test_cli_imports.py``). Errors a user can cause (:class:`AnomalyRefError`, and
argument errors) print one ``error:`` line and exit 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import signal
import sys

from .. import __version__
from ..errors import AnomalyRefError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, as every other error of the CLI.

    argparse prints the whole usage (13 lines for ``audit``) before an invalid choice; here
    the message (which names the valid choices) and where to read more are enough.
    Subcommand parsers inherit the class (``add_subparsers`` uses the parent's type).
    """

    def error(self, message: str):
        self.exit(2, f"error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="anomaly-ref",
        description=(
            "Check Rahmani & Soleimani's published anomaly-detection numbers: fetch the\n"
            "authors' features, retrain every configuration, compare with the paper."
        ),
        epilog="example: anomaly-ref reproduce --dataset ped2 --backbone convnext_tiny --head all\n"
               "Run 'anomaly-ref COMMAND --help' for the options and an example of one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the example on one line
    )
    parser.add_argument("--version", action="version", version=f"anomaly-ref {__version__}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="the command to run:")
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``args`` names (``anomaly-ref manifest verify`` -> its own)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return _chosen(action.choices[getattr(args, action.dest)], args)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand's parser, so the hint names that command's --help
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    import threading

    in_main = threading.current_thread() is threading.main_thread()  # only there may handlers be set
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        return int(args.func(args) or 0)
    except AnomalyRefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM as an exception: ``finally`` blocks run (work folders removed, locks released)
    as they do on Ctrl-C, instead of the process vanishing mid-write."""


def _terminated(signum, frame) -> None:
    raise _Terminated()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
