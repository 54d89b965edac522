"""Ready MCP client configurations (Claude Desktop, VS Code, Cursor) that start this server by its absolute path."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Literal

Host = Literal["claude", "vscode", "cursor"]
HOSTS: tuple[Host, ...] = ("claude", "vscode", "cursor")

COMMAND = "sprinklr-mcp"

# Where each host reads its configuration, for the hint printed beside the JSON.
WHERE: dict[Host, str] = {
    "claude": "claude_desktop_config.json (macOS: ~/Library/Application Support/Claude/; Windows: "
    "%APPDATA%\\Claude\\; Linux: ~/.config/Claude/), under mcpServers",
    "vscode": ".vscode/mcp.json in the workspace (or the user mcp.json: 'MCP: Open User Configuration'), under servers",
    "cursor": "~/.cursor/mcp.json (or .cursor/mcp.json in a project), under mcpServers",
}

# What a real deployment must fill in. The optional refresh pair is left out: a placeholder left in place would
# count as set and make every 401 try a refresh with it.
REQUIRED_ENV = {
    "SPRINKLR_ENV": "prod2",
    "SPRINKLR_API_KEY": "<your API key>",
    "SPRINKLR_ACCESS_TOKEN": "<your access token>",
}
# VS Code prompts for these once and stores them encrypted, so no secret sits in the file.
VSCODE_SECRETS = ("SPRINKLR_API_KEY", "SPRINKLR_ACCESS_TOKEN")


def server_command(argv0: str | None = None, executable: str | None = None) -> list[str]:
    """How to start this server from anywhere: the installed command by absolute path, else `python -m server`."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    candidates = []
    if Path(argv0).name == COMMAND:
        candidates.append(Path(argv0))
    # Run as `python -m server`: the command installed beside this interpreter, then the one on PATH.
    candidates.append(Path(executable).parent / COMMAND)
    found = shutil.which(COMMAND)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return [str(candidate.absolute())]
    return [str(Path(executable).absolute()), "-m", "server"]


def client_config(host: Host, *, sandbox: bool, command: list[str]) -> dict[str, Any]:
    """The JSON a host reads: one `sprinklr` entry against real Sprinklr, or `sprinklr-sandbox` on the sandbox."""
    program, *prefix = command
    if sandbox:
        name, args, env = "sprinklr-sandbox", [*prefix, "demo", "--stdio"], {}
    else:
        name, args, env = "sprinklr", [*prefix, "serve"], dict(REQUIRED_ENV)
    if host != "vscode":
        entry: dict[str, Any] = {"command": program, "args": args}
        if env:
            entry["env"] = env
        return {"mcpServers": {name: entry}}
    inputs = []
    if env:
        for variable in VSCODE_SECRETS:
            key = variable.lower().replace("_", "-")
            inputs.append({"type": "promptString", "id": key, "description": variable, "password": True})
            env[variable] = f"${{input:{key}}}"
    server: dict[str, Any] = {"type": "stdio", "command": program, "args": args}
    if env:
        server["env"] = env
    config: dict[str, Any] = {"servers": {name: server}}
    if inputs:
        config["inputs"] = inputs
    return config
