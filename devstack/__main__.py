"""``python -m devstack up|stores``: the local stack behind `make up` (see devstack.stack)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from devstack.stack import up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the whole exchange locally: Redis and PostgreSQL (external ones from "
        "REDIS_URL / DATABASE_URL when they answer, else local servers with data in the stack "
        "folder), migrations, then the Procfile's parts under honcho.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=("up", "stores"),
        default="up",
        help="up: everything (default); stores: only Redis, PostgreSQL and migrations",
    )
    parser.add_argument("--dir", default=None, help="stack folder (env STACK_DIR, default .stack)")
    parser.add_argument("--procfile", default=None, help="Procfile to run (default ./Procfile)")
    args = parser.parse_args(argv)
    return up(stack_dir=args.dir, procfile=args.procfile, with_processes=args.command == "up")


if __name__ == "__main__":
    sys.exit(main())
