"""Running a parsed command line: a ``UserError`` is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys

from refinedweb.config import UserError


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; a ``UserError`` is one line on stderr and exit 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"refinedweb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
