"""The inventory reports' names, formats and groupings: the words the API, the command line and the
report builder share (free of imports, so that the command line's parser stays quick to load)."""

from __future__ import annotations

FORMATS = ("table", "json", "csv")
KINDS = ("origins", "licences", "continuity")
GROUPINGS = ("publisher", "lineage")

__all__ = ["FORMATS", "GROUPINGS", "KINDS"]
