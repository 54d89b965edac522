"""Recordings of upstream exchanges (SPRINKLR_MCP_RECORD_DIR), made from sandbox profiles, replayed by the tests."""
