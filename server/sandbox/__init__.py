"""A local Sprinklr sandbox: an HTTP simulator of the documented read API over a generated, deterministic dataset.

It answers like Sprinklr (auth, rate limits, errors, cursors), refuses and records every write attempt, and
has an admin API under /__sandbox__/ to inspect requests, inject faults and pick real example values.
"""

from server.sandbox.app import create_app
from server.sandbox.config import SandboxConfig
from server.sandbox.data import Dataset, generate
from server.sandbox.runner import RunningSandbox, running_sandbox, serve
from server.sandbox.state import Fault, Sandbox

__all__ = [
    "Dataset",
    "Fault",
    "RunningSandbox",
    "Sandbox",
    "SandboxConfig",
    "create_app",
    "generate",
    "running_sandbox",
    "serve",
]
