"""Entry point: `python -m local start [--port N] [--persist] [--debug FUNCTION]`,
`python -m local invoke FUNCTION -e EVENT.json`, `python -m local token`,
`python -m local faults list|on|off`, `python -m local invariants`,
`python -m local snapshot save NAME | load NAME | list` and `python -m local openapi [--out FILE]`."""

from __future__ import annotations

import argparse
import sys

INVOKE_EPILOG = """\
which AWS (--aws):
  auto      $AWS_ENDPOINT_URL when set; else the running `make start`'s emulated AWS (found
            through .build/local-endpoint.json), so ids created over HTTP are found; else an
            embedded moto of this invoke's own, which starts EMPTY and is gone afterwards
  running   the running `make start`'s; an error when none runs
  embedded  always a fresh, empty one

examples:
  python -m local invoke HealthFunction -e events/health.json
  python -m local invoke GetUserFunction -e events/get_user.json --path user_id=01J...
"""


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share from 0 to 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description="Run the SAM template without Docker.")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="serve the HTTP API on 127.0.0.1 (like `sam local start-api`)")
    start.add_argument("--port", type=int, default=3000)
    start.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameter values"
    )
    start.add_argument(
        "--no-reload",
        action="store_true",
        help="do not watch functions/, layers/shared/ and template.yaml (a saved change is live on the next request)",
    )
    start.add_argument(
        "--debug", metavar="FUNCTION", help="run this function's worker under debugpy (attach on --debug-port)"
    )
    start.add_argument("--debug-port", type=int, default=5678, help="where debugpy listens (default 5678)")
    start.add_argument(
        "--conflict-rate",
        type=_share,
        default=0.0,
        metavar="0-1",
        help="a fault: this share of DynamoDB transactions is cancelled with TransactionConflict (default 0)",
    )
    start.add_argument(
        "--transaction-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="how long a DynamoDB transaction holds its items, so that overlapping ones conflict (default 0)",
    )
    start.add_argument(
        "--persist",
        action="store_true",
        help="start from the data (tables, streams, queues, secrets, sent mail) saved when the last --persist "
        "server stopped, in .build/state/local.json, and save it when this one stops (default: a clean start)",
    )

    snapshot = commands.add_parser(
        "snapshot",
        help="save, load or list named snapshots of the running `make start`'s data (.build/snapshots/NAME.json)",
    )
    actions = snapshot.add_subparsers(dest="action", required=True)
    actions.add_parser("save", help="save the running server's data as NAME").add_argument("name")
    actions.add_parser("load", help="replace the running server's data with snapshot NAME").add_argument("name")
    actions.add_parser("list", help="the snapshots saved")

    faults = commands.add_parser(
        "faults",
        help="turn faults on or off in the running `make start` (DynamoDB throttling, SES rejections, ...)",
    )
    faults.add_argument("action", choices=("list", "on", "off"))
    faults.add_argument("name", nargs="?", help="the fault (see `list`); `off` without it: every fault")
    faults.add_argument("--rate", type=_share, default=1.0, metavar="0-1", help="the share of calls it hits")
    faults.add_argument("--function", help="only this function's calls (its logical id)")
    faults.add_argument("--seconds", type=float, default=0.0, help="slow_webhooks: the receiver's delay")

    commands.add_parser("invariants", help="check the project's rules on the running `make start`'s data")

    document = commands.add_parser("openapi", help="write the OpenAPI document of the routes (make openapi)")
    document.add_argument("--out", default="docs/openapi.json", help="where to write it ('-' for stdout)")

    token = commands.add_parser("token", help="print a bearer token for the local API (signature not checked)")
    token.add_argument("--scope", default=None, help="space-separated scopes; every scope when omitted")

    invoke = commands.add_parser(
        "invoke",
        help="invoke one function once (like `sam local invoke`)",
        epilog=INVOKE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("function", help="the function's logical id in template.yaml")
    invoke.add_argument("-e", "--event", help="event JSON file ('-' for stdin); {} when omitted")
    invoke.add_argument("-n", "--env-vars", help="SAM env-vars JSON: {FunctionId: {VAR: value}, Parameters: {...}}")
    invoke.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a path parameter of the function's route in the event (and its rawPath), e.g. user_id=01J...",
    )
    invoke.add_argument("--aws", choices=("auto", "running", "embedded"), default="auto", help="see below")
    invoke.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE", help="template parameter values"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "token":
        from local.tokens import ALL_SCOPES, make_token

        print(make_token(ALL_SCOPES if arguments.scope is None else arguments.scope))
        return 0
    if arguments.command == "faults":
        from local import devtools_cli

        return devtools_cli.faults(
            arguments.action, arguments.name, arguments.rate, arguments.function, arguments.seconds
        )
    if arguments.command == "invariants":
        from local import devtools_cli

        return devtools_cli.invariants()
    if arguments.command == "openapi":
        from local import openapi

        return openapi.write(arguments.out)
    if arguments.command == "snapshot":
        from local.snapshot_cli import cli as snapshot_cli

        return snapshot_cli(arguments.action, getattr(arguments, "name", None))
    if arguments.command == "invoke":
        from local.invoke import main as invoke_main

        return invoke_main(
            arguments.function,
            arguments.event,
            arguments.env_vars,
            arguments.parameter_overrides,
            aws=arguments.aws,
            path_parameters=arguments.path,
        )
    from local.invoke import InvokeError, parse_parameter_overrides
    from local.server import main as serve

    try:
        parameters = parse_parameter_overrides(arguments.parameter_overrides)
    except InvokeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return serve(
        arguments.port,
        parameters,
        (arguments.conflict_rate, arguments.transaction_ms / 1000),
        arguments.persist,
        reload=not arguments.no_reload,
        debug=(arguments.debug, arguments.debug_port) if arguments.debug else None,
    )


if __name__ == "__main__":
    sys.exit(main())
