"""``anomaly-ref``: one subcommand per job.

Each module in this package that defines ``register(subparsers)`` adds one subcommand;
``register`` must set ``func`` (taking the parsed args, returning an exit code) with
``parser.set_defaults(func=...)`` and import heavy libraries only inside ``func``, so
``anomaly-ref --help`` stays fast. Errors a user can cause (:class:`AnomalyRefError`)
print one ``error:`` line and exit 2; anything else is a bug and keeps its traceback.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomaly-ref",
        description=(
            "Check Rahmani & Soleimani's published anomaly-detection numbers: fetch the "
            "authors' features, retrain every configuration, compare with the paper."
        ),
        epilog="Run 'anomaly-ref COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"anomaly-ref {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
