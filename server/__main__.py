"""python -m server runs the sprinklr-mcp command line."""

from server.cli import main

main()
