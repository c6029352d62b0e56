"""`python -m vml_demo COMMAND ...`: one thin entry point; each command lives in its own module.

Every command turns a `VmlError` into a one-line message on stderr and exit status 2; any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..errors import VmlError
from ..settings import prefer_offline_hub

COMMAND_MODULES = ("library_cmds", "search_cmds", "fit_cmds", "train_cmds")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="python -m vml_demo",
        description="Music recommendation for video, guided by language (ViML + a MuLan-style music-text space).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}":
                continue  # command group not built in this version
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    prefer_offline_hub()
    try:
        args = build_parser().parse_args(argv)  # inside: help texts read the settings, which may be invalid
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
        return int(args.func(args) or 0)
    except VmlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
