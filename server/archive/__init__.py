"""A read-only archive of Sparkcentral data exports: CSVs imported into SQLite with full-text search, and queried.

`importer` reads export files from a source (a directory or an SFTP location) into the database; `store` answers
questions from it. Neither knows about MCP.
"""
