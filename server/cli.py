"""The command line: serve | demo | sandbox | tools | describe | call | check | config."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import errno
import json
import logging
import os
import shutil
import socket
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import anyio
from pydantic import SecretStr

from server.settings import LOG_LEVELS, ConfigError, Settings, load_settings, variable_names

REQUIRED_VARIABLES = ("SPRINKLR_ENV", "SPRINKLR_API_KEY", "SPRINKLR_ACCESS_TOKEN")
LOG_LEVEL_VARIABLE = "SPRINKLR_MCP_LOG_LEVEL"

# What each SPRINKLR_SANDBOX_* variable sets, for `sandbox --help`; a field missing here is still listed.
SANDBOX_FIELD_HELP = {
    "profile": "default, strict, variant, legacy or hostile: bundles of the knobs below",
    "env": "environment segment of its URLs",
    "api_key": "the API key it accepts",
    "access_token": "the access token it accepts",
    "refresh_token": "the refresh token it accepts",
    "api_secret": "the API secret it accepts",
    "seed": "seed of the generated dataset",
    "cases": "cases generated",
    "profiles": "customer profiles generated",
    "target_messages": "messages generated, about",
    "anchor": "last day of the data, YYYY-MM-DD (empty: today, UTC)",
    "rate_per_second": "calls allowed per second",
    "rate_per_hour": "calls allowed per hour",
    "rate_limit_status": "status of a rate-limit answer, 403 or 429",
    "bulk_fetch_max": "ids per bulk fetch",
    "search_page_max": "largest search page",
    "cursor_ttl_seconds": "how long a search cursor lives",
    "latency_ms": "added latency per request",
}


class UsageError(Exception):
    """The command line asked for something that cannot be done as given; the message says what to do instead."""


class _Formatter(argparse.HelpFormatter):
    """Help with each option's default; text wrapped by line, and indented lines (tables) kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        # A flag's False, an empty list or None says nothing a reader needs.
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        for line in text.splitlines():
            if line.startswith(" ") or not line:
                lines.append(indent + line)
            else:
                lines.extend(textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent))
        return "\n".join(lines)


# -- the parser ------------------------------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _port_or_zero(text: str) -> int:
    return 0 if text.strip() == "0" else _port(text)


class _HelpWith(argparse.Action):
    """-h/--help whose epilog is computed only when help is shown (it may start a client session or import a lot)."""

    def __init__(self, option_strings: list[str], dest: str, epilog: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and exit")
        self._epilog = epilog

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        parser.epilog = f"{self._epilog()}\n\n{parser.epilog or ''}".rstrip()
        parser.print_help()
        parser.exit()


def _tool_names_epilog() -> str:
    """The server's tool names, asked through a client session."""
    return "tools: " + ", ".join(name for name, _, _, _ in anyio.run(_tools_of, _listing_settings()))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sprinklr-mcp",
        description="A read-only MCP server for Sprinklr, with a local Sprinklr sandbox.",
        epilog="Configuration comes from SPRINKLR_* environment variables (listed by `sprinklr-mcp check --help`); "
        "the sandbox reads SPRINKLR_SANDBOX_* (listed by `sprinklr-mcp sandbox --help`).",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, epilog=epilog, formatter_class=_Formatter)

    serve = command(
        "serve",
        "run the MCP server against Sprinklr (SPRINKLR_* settings)",
        "Run the read-only MCP server against the Sprinklr account the SPRINKLR_* variables name: over stdio (for "
        "MCP hosts, the default) or streamable HTTP.",
        epilog=_settings_epilog(),
    )
    _transport_args(serve, default="stdio")

    demo = command(
        "demo",
        "start the local sandbox and the server against it",
        "Start the local Sprinklr sandbox on a free loopback port and the MCP server against it: over streamable "
        "HTTP by default, or over stdio for MCP hosts (--stdio). With --tour, run a short scripted support session "
        "through a real MCP client session, print it, and exit.",
    )
    _transport_args(demo, default="streamable-http")
    demo.add_argument(
        "--stdio",
        dest="transport",
        action="store_const",
        const="stdio",
        help="same as --transport stdio (what MCP host configurations use)",
    )
    demo.add_argument("--tour", action="store_true", help="run a short scripted support session, print it, and exit")

    sandbox = sub.add_parser(
        "sandbox",
        help="run only the local Sprinklr sandbox",
        description="Run only the local Sprinklr sandbox (the simulator of the Sprinklr API) in the foreground until "
        "Ctrl-C. Point a server at it with SPRINKLR_BASE_URL=http://HOST:PORT/prod2 and the sandbox credentials.",
        formatter_class=_Formatter,
        add_help=False,
    )
    # Listed from the sandbox's own config only when asked: importing the sandbox would slow every command down.
    sandbox.add_argument("-h", "--help", action=_HelpWith, epilog=_sandbox_epilog)
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sandbox.add_argument("--port", type=_port_or_zero, default=8787, help="port to listen on (0: any free port)")
    sandbox.add_argument(
        "--profile",
        metavar="NAME",
        help="how the sandbox reads what the reference leaves open: default, strict, variant, legacy or hostile "
        "(overrides SPRINKLR_SANDBOX_PROFILE; explicit SPRINKLR_SANDBOX_* knobs still win)",
    )

    tools = command(
        "tools",
        "list the tools, or describe one (NAME)",
        "List the server's tools with the first sentence of each description, through a real MCP client session; "
        "with NAME, print that tool's whole description and its arguments (types, allowed values, defaults).",
    )
    tools.add_argument("name", nargs="?", metavar="NAME", help="a tool to describe (default: list them all)")
    _sandbox_flag(tools, listing=True)

    describe = command(
        "describe",
        "describe one tool: its description and arguments",
        "Print one tool's whole description and its arguments (types, allowed values, defaults); the same as "
        "`sprinklr-mcp tools NAME`.",
    )
    describe.add_argument("name", metavar="NAME", help="the tool to describe")
    _sandbox_flag(describe, listing=True)

    call = sub.add_parser(
        "call",
        help="call one tool and print the result",
        description="Call one tool through a real MCP client session and print its text result (exit 1 when the "
        "tool answers with an error). Arguments come from --json and --arg (--arg wins).",
        epilog="Page through results with --json-out: it prints the structured content as JSON instead of the text, "
        "and a page's `next` holds the arguments of the next page: `sprinklr-mcp call search_cases --json-out | jq -c "
        ".next.arguments`, then pass them back with --json.",
        formatter_class=_Formatter,
        add_help=False,
    )
    call.add_argument("-h", "--help", action=_HelpWith, epilog=_tool_names_epilog)
    call.add_argument("tool", metavar="TOOL", help="tool name (listed below; see also `sprinklr-mcp tools`)")
    call.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one argument, repeatable; VALUE is read as JSON when it parses (48213, true, '[\"Open\"]'), else text",
    )
    call.add_argument("--json", dest="args_json", metavar="OBJECT", help="all arguments as one JSON object")
    call.add_argument(
        "--json-out",
        action="store_true",
        help="print the structured content as JSON (instead of the text), for jq and paging",
    )
    _sandbox_flag(call)

    check = command(
        "check",
        "validate the configuration and credentials with one cheap read",
        "Validate every SPRINKLR_* variable below, report the quota ledger (one warning line when the Redis of "
        "SPRINKLR_MCP_REDIS_URL does not answer), and make one cheap read (a one-row case search) to prove that "
        "SPRINKLR_ENV, SPRINKLR_API_KEY, SPRINKLR_ACCESS_TOKEN and SPRINKLR_BASE_URL (when set) work. Exit 0 when "
        "the read works, 1 when Sprinklr refuses, 2 when the configuration is malformed.",
        epilog=_settings_epilog(),
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="also find out, in at most 20 read-only calls, what the account does where the API reference is "
        "silent (page numbering, time filter form, accepted filters and sorts, page sizes) and keep the findings",
    )

    config = command(
        "config",
        "print a ready MCP client configuration",
        "Print a configuration for an MCP host that starts this server by the absolute path of the installed "
        "command, so it works without the virtualenv on PATH. Fill in the <...> values; where the host reads the "
        "file is printed on stderr.",
    )
    config.add_argument("--client", choices=["claude", "vscode", "cursor"], default="claude", help="the MCP host")
    config.add_argument(
        "--sandbox", action="store_true", help="an entry that runs the demo sandbox over stdio (no credentials)"
    )
    from server.archive.cli import add_parser as add_archive_parser

    add_archive_parser(sub)
    return parser


def _transport_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--transport", choices=["stdio", "streamable-http"], default=default, help="how MCP clients connect"
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address to listen on")
    parser.add_argument("--port", type=_port, default=8000, help="HTTP port to listen on")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (then set SPRINKLR_MCP_HTTP_TOKEN)",
    )


def _sandbox_flag(parser: argparse.ArgumentParser, listing: bool = False) -> None:
    what = (
        "the sandbox's settings: list without SPRINKLR_* credentials (nothing is sent to Sprinklr)"
        if listing
        else "a fresh local sandbox instead of the SPRINKLR_* settings"
    )
    parser.add_argument("--sandbox", action="store_true", help=f"use {what}")


def _settings_epilog() -> str:
    names = variable_names()
    optional = [name for name in names if name not in REQUIRED_VARIABLES]
    return (
        f"Variables read: {', '.join(REQUIRED_VARIABLES)} (required); {', '.join(optional)} (optional; see the "
        f"README). Also HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE."
    )


def _sandbox_epilog() -> str:
    from server.sandbox import SandboxConfig
    from server.sandbox.config import KNOBS

    defaults = SandboxConfig()
    lines = ["Settings (environment variables, each optional):"]
    knobs = []
    for field in dataclasses.fields(SandboxConfig):
        if not field.init:
            continue
        variable, value = f"SPRINKLR_SANDBOX_{field.name.upper()}", getattr(defaults, field.name)
        if field.name in KNOBS and field.name != "env":
            knobs.append(f"  {variable:38} {value} in the default profile")
            continue
        meaning = SANDBOX_FIELD_HELP.get(field.name, "")
        lines.append(f"  {variable:38} {meaning} (default: {value!r})")
    lines += ["", "Knobs for what the API reference leaves open (README section The sandbox explains each):", *knobs]
    return "\n".join(lines)


def _version() -> str:
    try:
        return version("sprinklr-mcp")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


# -- main and dispatch -------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `sprinklr-mcp` command: a known failure is one line on stderr, never a traceback."""
    try:
        code = _run(argv)
    except ConfigError as exc:
        print(f"sprinklr-mcp: configuration error: {exc}", file=sys.stderr)
        code = 2
    except UsageError as exc:
        print(f"sprinklr-mcp: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = _reader_went_away()
    except BaseExceptionGroup as group:  # task groups wrap what their tasks raise
        if group.split(BrokenPipeError)[1] is not None:
            raise
        code = _reader_went_away()
    raise SystemExit(code)


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=_log_level(), stream=sys.stderr)
    code = _dispatch(args)
    sys.stdout.flush()  # here, so that a reader that went away is noticed inside main's handler
    return code


def _reader_went_away() -> int:
    """stdout's reader closed early (`... | head`): stop quietly, as the shell tools do."""
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def _log_level() -> str:
    """SPRINKLR_MCP_LOG_LEVEL, checked before logging is set up (every command logs, not only the server)."""
    level = os.environ.get(LOG_LEVEL_VARIABLE, "WARNING").strip().upper() or "WARNING"
    if level not in LOG_LEVELS:
        raise ConfigError(f"{LOG_LEVEL_VARIABLE}: {level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "serve":
        return _serve(load_settings(), args)
    if command == "demo":
        with sandbox_settings() as settings:
            if args.tour:
                from server.tour import run_tour

                return anyio.run(run_tour, settings)
            return _serve(settings, args, demo=True)
    if command == "sandbox":
        from server.sandbox import serve

        config = _sandbox_config(args.profile)
        # Checked before serve() prints its banner, so a busy port is the only thing said.
        _ensure_port_free(args.host, args.port)
        try:
            serve(config, host=args.host, port=args.port)
        except OSError as exc:
            # Taken between the check and the bind; any other OSError is a real failure and keeps its traceback.
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                raise
            raise _cannot_listen(args.host, args.port, exc) from None
        return 0
    if command in ("tools", "describe"):
        settings = _listing_settings() if args.sandbox else _settings_or_hint()
        return anyio.run(_show_tools, settings, args.name)
    if command == "call":
        arguments = _tool_args(args)
        with sandbox_settings() if args.sandbox else contextlib.nullcontext(_settings_or_hint()) as settings:
            return anyio.run(_call_tool, settings, args.tool, arguments, args.json_out)
    if command == "check":
        return anyio.run(_check, load_settings(), args.probe)
    if command == "config":
        return _print_config(args.client, sandbox=args.sandbox)
    if command == "archive":
        from server.archive.cli import run as run_archive

        return run_archive(args)
    raise AssertionError(command)  # pragma: no cover - argparse restricts commands


def _settings_or_hint() -> Settings:
    """The configured settings; when none are set, the error also says how to use the sandbox instead."""
    try:
        return load_settings()
    except ConfigError as exc:
        if any(os.environ.get(name) for name in REQUIRED_VARIABLES):
            raise
        raise ConfigError(f"{exc} (or pass --sandbox to use the local sandbox)") from None


@contextlib.contextmanager
def sandbox_settings(**overrides: Any) -> Iterator[Settings]:
    """Start the embedded sandbox on a free loopback port and yield settings that point the server at it."""
    from server.archive.demo import demo_archive
    from server.sandbox import SandboxConfig, running_sandbox
    from server.sandbox.data import QUEUES

    config = SandboxConfig()
    # The sandbox ships a Sparkcentral archive of the year before its Sprinklr data, imported at start-up.
    with running_sandbox(config) as sandbox, demo_archive(sandbox.app_state.dataset) as archive:
        yield load_settings(
            **archive.settings(),
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


def _listing_settings() -> Settings:
    """Settings of a `--sandbox` server, enough to list its tools without starting it (nothing is opened or sent)."""
    # Built without reading the environment, so that `call --help` works before anything is configured. The sandbox
    # ships a Sparkcentral archive, so an archive is configured too (its store opens only when a tool reads it).
    return Settings.model_construct(
        env="prod2",
        api_key=SecretStr("unused"),
        access_token=SecretStr("unused"),
        ledger_path=":memory:",
        sparkcentral_export_dir="sandbox-archive",
    )


def _sandbox_config(profile: str | None) -> Any:
    """The sandbox's settings from SPRINKLR_SANDBOX_* and --profile; a bad one is one line naming it."""
    from server.sandbox import SandboxConfig
    from server.sandbox.config import PROFILES

    if profile is not None and profile not in PROFILES:
        raise ConfigError(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    environ = dict(os.environ) | ({"SPRINKLR_SANDBOX_PROFILE": profile} if profile else {})
    try:
        return SandboxConfig.from_env(environ)
    except ValueError as exc:  # from_env names the variable
        raise ConfigError(str(exc)) from None


def _ensure_port_free(host: str, port: int) -> None:
    """Fail with one line, before any banner, when host:port cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option the servers set, so a port in TIME_WAIT counts as free, as it will be for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> UsageError:
    """The one line for a bind that failed: which port, and how to choose another."""
    if exc.errno == errno.EADDRINUSE:
        return UsageError(
            f"port {port} on {host} is already in use; choose another with --port (e.g. --port {port + 1}), or stop "
            f"what is listening there"
        )
    return UsageError(f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__}); check --host and --port")


# -- serve -----------------------------------------------------------------------------------------------------------


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
    _ensure_port_free(args.host, port)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{port}/mcp"
    if demo:
        print(_demo_banner(url, settings), file=sys.stderr)
    else:
        print(f"sprinklr-mcp: MCP over streamable HTTP at {url}", file=sys.stderr)
    serve_http(http_app(server, settings, args.host, port), args.host, port, HttpLimits.from_settings(settings))
    return 0


def _demo_banner(url: str, settings: Settings) -> str:
    inspector = f"npx @modelcontextprotocol/inspector --cli {url} --transport http"
    if settings.http_token is not None:
        inspector += ' --header "Authorization: Bearer $SPRINKLR_MCP_HTTP_TOKEN"'
    return f"""
sprinklr-mcp demo: the read-only MCP server, against a local Sprinklr sandbox ({settings.api_root}).

  MCP endpoint (streamable HTTP): {url}
  MCP Inspector (Node >= 22.19):  npx @modelcontextprotocol/inspector   (Transport: Streamable HTTP, URL above)
  Inspector CLI, list the tools:
    {inspector} --method tools/list
  Inspector CLI, call a tool:
    {inspector} --method tools/call --tool-name get_case --tool-arg case_number=48213
  From a terminal:
    sprinklr-mcp call get_case --arg case_number=48213 --sandbox

Press Ctrl-C to stop.
"""


# -- tools, describe, call ---------------------------------------------------------------------------------------


def _tool_args(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.args_json:
        try:
            loaded = json.loads(args.args_json)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--json is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. Quote names and "
                f'text, e.g. --json \'{{"status": ["Open"]}}\''
            ) from None
        if not isinstance(loaded, dict):
            raise UsageError('--json must be a JSON object of argument names to values, e.g. {"case_number": 48213}')
        values.update(loaded)
    for item in args.arg:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg {item!r}: expected KEY=VALUE, e.g. --arg case_number=48213")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


async def _tools_of(settings: Settings) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """(name, title, description, input schema) of each tool, as a client session lists them."""
    from mcp import Client

    from server.app import build_server

    async with Client(build_server(settings)) as client:
        listing = await client.list_tools()
    return [(tool.name, tool.title, tool.description or "", tool.input_schema) for tool in listing.tools]


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def _unknown_tool(name: str, names: list[str]) -> UsageError:
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else "."
    return UsageError(f"unknown tool {name!r}{hint} The tools are: {', '.join(names)}")


async def _show_tools(settings: Settings, name: str | None) -> int:
    from server.schema_text import describe_tool, listing

    tools = await _tools_of(settings)
    if name is None:
        lines = listing([(tool, description) for tool, _, description, _ in tools], _width())
    else:
        found = [tool for tool in tools if tool[0] == name]
        if not found:
            raise _unknown_tool(name, [tool for tool, _, _, _ in tools])
        tool, title, description, schema = found[0]
        lines = describe_tool(tool, title, description, schema, _width())
    print("\n".join(lines))
    return 0


async def _call_tool(settings: Settings, name: str, arguments: dict[str, Any], json_out: bool) -> int:
    from mcp import Client

    from server.app import build_server

    async with Client(build_server(settings)) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        outcome = await client.call_tool(name, arguments) if name in names else None
    if outcome is None:  # raised out here: inside the session it would come out wrapped in an exception group
        raise _unknown_tool(name, names)
    texts = [str(getattr(block, "text", block)) for block in outcome.content]
    if outcome.is_error:
        # With --json-out stdout stays JSON-only: the error goes to stderr.
        print("\n".join(texts), file=sys.stderr if json_out else sys.stdout)
        return 1
    if json_out:
        print(json.dumps(outcome.structured_content, indent=2, ensure_ascii=False))
    else:
        print("\n".join(texts))
    return 0


# -- check and config --------------------------------------------------------------------------------------------


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
            variable = {"redis": "SPRINKLR_MCP_REDIS_URL", "file": "SPRINKLR_MCP_LEDGER_PATH"}.get(app.ledger_kind)
            hint = f" (check {variable})" if variable else ""
            print(scrub(f"sprinklr-mcp: warning: {quota.degraded_reason}{hint}"), file=sys.stderr)
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


def _print_config(host: str, *, sandbox: bool) -> int:
    from server.client_config import HOSTS, WHERE, client_config, server_command

    chosen = next(h for h in HOSTS if h == host)
    print(json.dumps(client_config(chosen, sandbox=sandbox, command=server_command()), indent=2))
    fill = (
        ""
        if sandbox
        else " Fill in the <...> values; for token refresh add SPRINKLR_REFRESH_TOKEN and SPRINKLR_API_SECRET."
    )
    print(f"sprinklr-mcp: put this in {WHERE[chosen]}.{fill}", file=sys.stderr)
    return 0
