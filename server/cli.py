"""The command line: serve | demo | sandbox | tools | call | check."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import anyio

from server.settings import ConfigError, Settings, load_settings

SANDBOX_ENV_DEFAULTS = "SPRINKLR_ENV, SPRINKLR_API_KEY and SPRINKLR_ACCESS_TOKEN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sprinklr-mcp", description="A read-only MCP server for Sprinklr, with a local Sprinklr sandbox."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default) against SPRINKLR_* settings")
    _transport_args(serve)

    demo = sub.add_parser("demo", help="start the local sandbox and the server against it")
    _transport_args(demo, default="streamable-http")
    demo.add_argument("--stdio", action="store_true", help="serve MCP over stdio (for MCP hosts) instead of HTTP")
    demo.add_argument("--tour", action="store_true", help="run a short scripted support session, print it, and exit")

    sandbox = sub.add_parser("sandbox", help="run only the local Sprinklr sandbox (SPRINKLR_SANDBOX_* settings)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument(
        "--profile",
        metavar="NAME",
        help="how the sandbox reads what the reference leaves open: default, strict, variant, legacy or hostile "
        "(overrides SPRINKLR_SANDBOX_PROFILE; explicit SPRINKLR_SANDBOX_* knobs still win)",
    )

    tools = sub.add_parser("tools", help="list the tools through a real MCP client session")
    tools.add_argument("--sandbox", action="store_true", help="use a fresh local sandbox instead of SPRINKLR_*")

    call = sub.add_parser("call", help="call one tool through a real MCP client session and print the result")
    call.add_argument("tool")
    call.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", help="argument; VALUE may be JSON")
    call.add_argument("--json", dest="args_json", help="all arguments as one JSON object")
    call.add_argument("--sandbox", action="store_true", help="use a fresh local sandbox instead of SPRINKLR_*")

    check = sub.add_parser("check", help="validate the configuration and credentials with one cheap read")
    check.add_argument(
        "--probe",
        action="store_true",
        help="also find out, in at most 20 read-only calls, what the account does where the API reference is "
        "silent (page numbering, time filter form, accepted filters and sorts, page sizes) and keep the findings",
    )
    return parser


def _transport_args(parser: argparse.ArgumentParser, default: str = "stdio") -> None:
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default=default)
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address (set a bearer token!)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `sprinklr-mcp` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("SPRINKLR_MCP_LOG_LEVEL", "WARNING").upper(), stream=sys.stderr)
    try:
        code = _dispatch(args)
    except ConfigError as exc:
        print(f"sprinklr-mcp: configuration error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        return _serve(load_settings(), args)
    if command == "demo":
        with sandbox_settings() as settings:
            if args.tour:
                from server.tour import run_tour

                return anyio.run(run_tour, settings)
            if args.stdio:
                args.transport = "stdio"
            return _serve(settings, args, demo=True)
    if command == "sandbox":
        from server.sandbox import SandboxConfig, serve
        from server.sandbox.config import PROFILES

        if args.profile is not None and args.profile not in PROFILES:
            raise ConfigError(f"--profile must be one of {', '.join(PROFILES)}, got {args.profile!r}")
        environ = dict(os.environ) | ({"SPRINKLR_SANDBOX_PROFILE": args.profile} if args.profile else {})
        try:
            config = SandboxConfig.from_env(environ)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        root = "" if config.env == "prod" else f"/{config.env}"
        print(
            f"Sprinklr sandbox ({config.profile} profile) on http://{args.host}:{args.port}{root} (Ctrl-C to stop)",
            file=sys.stderr,
        )
        serve(config, host=args.host, port=args.port)
        return 0
    if command in ("tools", "call"):
        with sandbox_settings() if args.sandbox else contextlib.nullcontext(load_settings()) as settings:
            if command == "tools":
                return anyio.run(_list_tools, settings)
            return anyio.run(_call_tool, settings, args.tool, _tool_args(args))
    if command == "check":
        return anyio.run(_check, load_settings(), args.probe)
    raise AssertionError(command)  # pragma: no cover - argparse restricts commands


@contextlib.contextmanager
def sandbox_settings(**overrides: Any) -> Iterator[Settings]:
    """Start the embedded sandbox on a free loopback port and yield settings that point the server at it."""
    from server.sandbox import SandboxConfig, running_sandbox
    from server.sandbox.data import QUEUES

    config = SandboxConfig()
    with running_sandbox(config) as sandbox:
        yield load_settings(
            # Sprinklr documents no way to read queue names; a real deployment sets SPRINKLR_MCP_QUEUE_NAMES.
            queue_names=QUEUES,
            env=config.env,
            api_key=config.api_key,
            access_token=config.access_token,
            refresh_token=config.refresh_token,
            api_secret=config.api_secret,
            base_url=sandbox.base_url,
            ledger_path=":memory:",
            **overrides,
        )


def _serve(settings: Settings, args: argparse.Namespace, demo: bool = False) -> int:
    from server.alloc import return_large_blocks
    from server.app import build_server
    from server.stdio import run_stdio

    return_large_blocks()  # large responses' memory goes back to the system once they are read
    server = build_server(settings)
    if args.transport == "stdio":
        if demo:
            print("sprinklr-mcp: serving the sandbox over stdio", file=sys.stderr)
        anyio.run(run_stdio, server)
        return 0
    from server.http import HttpLimits, http_app, is_loopback, serve_http

    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"sprinklr-mcp: refusing to listen on {args.host}: only loopback by default. Pass --allow-remote (and set "
            f"SPRINKLR_MCP_HTTP_TOKEN) to serve other machines.",
            file=sys.stderr,
        )
        return 2
    port = args.port
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{port}/mcp"
    if demo:
        print(_demo_banner(url, settings), file=sys.stderr)
    else:
        print(f"sprinklr-mcp: MCP over streamable HTTP at {url}", file=sys.stderr)
    serve_http(http_app(server, settings, args.host, port), args.host, port, HttpLimits.from_settings(settings))
    return 0


def _demo_banner(url: str, settings: Settings) -> str:
    return f"""
sprinklr-mcp demo: the read-only MCP server, against a local Sprinklr sandbox ({settings.api_root}).

  MCP endpoint (streamable HTTP):  {url}
  MCP Inspector:                   npx @modelcontextprotocol/inspector   (Transport: Streamable HTTP, URL above)
  Inspector CLI:                   npx @modelcontextprotocol/inspector --cli {url} --transport http --method tools/list
                                   npx @modelcontextprotocol/inspector --cli {url} --transport http \
                                     --method tools/call --tool-name get_case_by_number --tool-arg case_number=48213
  Try a tool from a terminal:      sprinklr-mcp call get_case_by_number --arg case_number=48213 --sandbox

Press Ctrl-C to stop.
"""


def _tool_args(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.args_json:
        loaded = json.loads(args.args_json)
        if not isinstance(loaded, dict):
            raise ConfigError("--json must be a JSON object")
        values.update(loaded)
    for item in args.arg:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--arg {item!r}: expected KEY=VALUE")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


async def _list_tools(settings: Settings) -> int:
    from mcp import Client

    from server.app import build_server

    async with Client(build_server(settings)) as client:
        listing = await client.list_tools()
        for tool in listing.tools:
            summary = (tool.description or "").strip().splitlines()[0]
            print(f"{tool.name:20} {summary}")
    return 0


async def _call_tool(settings: Settings, name: str, arguments: dict[str, Any]) -> int:
    from mcp import Client

    from server.app import build_server

    async with Client(build_server(settings)) as client:
        outcome = await client.call_tool(name, arguments)
        for block in outcome.content:
            text = getattr(block, "text", None)
            print(text if text is not None else block)
        return 1 if outcome.is_error else 0


async def _check(settings: Settings, probe: bool = False) -> int:
    from server.errors import SprinklrError
    from server.runtime import open_app
    from server.scrub import Scrubber, scrub_logs

    # The ledger's state (and that of the Redis behind it) is reported below in one line, not as log warnings too.
    for name in ("server.ledger", "server.cache"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scrub = Scrubber.from_settings(settings)
    scrub_logs(scrub)
    async with open_app(settings, scrub=scrub) as app:
        quota = await app.quota.status()
        if quota.degraded_reason:
            print(scrub(f"sprinklr-mcp: warning: {quota.degraded_reason}"), file=sys.stderr)
        try:
            page = await app.client.search("CASE", {"filter": {"type": "AND", "filters": []}}, offset=0, size=1)
        except SprinklrError as exc:
            print(scrub(f"sprinklr-mcp: check failed: {exc}"), file=sys.stderr)
            return 1
        print(
            scrub(
                f"OK: credentials work for {settings.env} ({settings.api_root}); case search answered "
                f"{len(page.rows)} row."
            )
        )
        print(
            f"Quota ledger ({app.ledger_kind}): {quota.ledger_location}"
            + (" (not answering)" if quota.degraded_reason else "")
        )
        if probe:
            from server.probe import run_probe

            try:
                findings, report = await run_probe(app.client)
            except SprinklrError as exc:
                print(scrub(f"sprinklr-mcp: the probe stopped: {exc}"), file=sys.stderr)
                return 1
            app.client.findings_store.replace(findings)
            print(f"Probe: {report.calls} API calls.")
            for line in report.lines:
                print(scrub(f"- {line}"))
            where = app.client.findings_store.path
            print(
                f"Saved to {where}; the server uses these findings from now on."
                if where
                else "Not saved (in-memory ledger): set SPRINKLR_MCP_LEDGER_PATH to keep the findings."
            )
    return 0
