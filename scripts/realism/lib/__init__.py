"""Shared pieces of the differential realism suite (see ../README.md)."""
