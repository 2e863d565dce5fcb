"""Inventory and SBOM: every revision hubgate served, its origin, licence, reviews and downloads."""
