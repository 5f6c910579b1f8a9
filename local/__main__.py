"""Entry point: `python -m local start [--port N]` and `python -m local invoke FUNCTION -e EVENT.json`."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description="Run the SAM template without Docker.")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="serve the HTTP API on 127.0.0.1 (like `sam local start-api`)")
    start.add_argument("--port", type=int, default=3000)
    start.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameter values"
    )

    invoke = commands.add_parser("invoke", help="invoke one function once (like `sam local invoke`)")
    invoke.add_argument("function", help="the function's logical id in template.yaml")
    invoke.add_argument("-e", "--event", help="event JSON file ('-' for stdin); {} when omitted")
    invoke.add_argument("-n", "--env-vars", help="SAM env-vars JSON: {FunctionId: {VAR: value}, Parameters: {...}}")
    invoke.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameter values"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "invoke":
        from local.invoke import main as invoke_main

        return invoke_main(arguments.function, arguments.event, arguments.env_vars, arguments.parameter_overrides)
    from local.invoke import parse_parameter_overrides
    from local.server import main as serve

    return serve(arguments.port, parse_parameter_overrides(arguments.parameter_overrides))


if __name__ == "__main__":
    sys.exit(main())
