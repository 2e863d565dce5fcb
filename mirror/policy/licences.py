"""Licence buckets: what the Hub's `license` / `license_name` values mean for a company.

The default table follows shared/design/PROVENANCE.md; legal owns the final one, so the policy file
can override any entry. Hub-specific licences of Chinese-origin and vendor families differ by
version, which is why `other` + `license_name` goes through a curated table and anything unknown
goes to review.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum


class Bucket(IntEnum):
    """Ordered from least to most restrictive: the most restrictive of several licences wins."""

    PERMISSIVE = 1
    COPYLEFT = 2
    RAIL = 3
    VENDOR = 4  # vendor community licences: allowed after a recorded acknowledgement
    RESEARCH = 5  # research-only / unread conditions
    UNKNOWN = 6  # `other` with an unknown name, missing, `unknown`
    NON_COMMERCIAL = 7

    @classmethod
    def parse(cls, name: str) -> Bucket:
        try:
            return cls[name.upper().replace("-", "_")]
        except KeyError:
            choices = ", ".join(bucket.name.lower().replace("_", "-") for bucket in cls)
            raise ValueError(f"unknown licence bucket {name!r}: use one of {choices}") from None

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


# Licence ids (the Hub's `license` values; fnmatch patterns) -> bucket.
DEFAULT_IDS: Mapping[str, Bucket] = {
    "apache-2.0": Bucket.PERMISSIVE,
    "mit": Bucket.PERMISSIVE,
    "bsd*": Bucket.PERMISSIVE,
    "isc": Bucket.PERMISSIVE,
    "zlib": Bucket.PERMISSIVE,
    "unlicense": Bucket.PERMISSIVE,
    "cc0-1.0": Bucket.PERMISSIVE,
    "cc-by-4.0": Bucket.PERMISSIVE,
    "cc-by-3.0": Bucket.PERMISSIVE,
    "cc-by-2.0": Bucket.PERMISSIVE,
    "bsl-1.0": Bucket.PERMISSIVE,
    "afl-3.0": Bucket.PERMISSIVE,
    "artistic-2.0": Bucket.PERMISSIVE,
    "ecl-2.0": Bucket.PERMISSIVE,
    "postgresql": Bucket.PERMISSIVE,
    "ncsa": Bucket.PERMISSIVE,
    "wtfpl": Bucket.PERMISSIVE,
    "pddl": Bucket.PERMISSIVE,
    "odc-by": Bucket.PERMISSIVE,
    "cdla-permissive-*": Bucket.PERMISSIVE,
    "gpl*": Bucket.COPYLEFT,
    "lgpl*": Bucket.COPYLEFT,
    "agpl-3.0": Bucket.COPYLEFT,
    "mpl-2.0": Bucket.COPYLEFT,
    "epl-*": Bucket.COPYLEFT,
    "eupl-1.1": Bucket.COPYLEFT,
    "cc-by-sa-*": Bucket.COPYLEFT,
    "cdla-sharing-1.0": Bucket.COPYLEFT,
    "odbl": Bucket.COPYLEFT,
    "osl-3.0": Bucket.COPYLEFT,
    "openrail*": Bucket.RAIL,
    "bigscience-*": Bucket.RAIL,
    "creativeml-openrail-m": Bucket.RAIL,
    "bigcode-openrail-m": Bucket.RAIL,
    "llama2": Bucket.VENDOR,
    "llama3": Bucket.VENDOR,
    "llama3.1": Bucket.VENDOR,
    "llama3.2": Bucket.VENDOR,
    "llama3.3": Bucket.VENDOR,
    "llama4": Bucket.VENDOR,
    "gemma": Bucket.VENDOR,
    "cc-by-nc-*": Bucket.NON_COMMERCIAL,
    "fair-noncommercial-research-license": Bucket.NON_COMMERCIAL,
    "deepfloyd-if-license": Bucket.NON_COMMERCIAL,
    "apple-ascl": Bucket.NON_COMMERCIAL,
    "c-uda": Bucket.NON_COMMERCIAL,
    "other": Bucket.UNKNOWN,
    "unknown": Bucket.UNKNOWN,
}

# `license_name` values of `license: other` repos, reviewed by legal -> bucket.
DEFAULT_NAMES: Mapping[str, Bucket] = {
    "tongyi-qianwen": Bucket.VENDOR,  # Qwen 1/1.5/2 (some sizes): 100M MAU threshold
    "tongyi-qianwen-research": Bucket.RESEARCH,
    "qwen": Bucket.VENDOR,
    "qwen-research": Bucket.RESEARCH,  # e.g. Qwen2.5-3B
    "yi-license": Bucket.VENDOR,
    "deepseek": Bucket.VENDOR,  # DeepSeek V1-V3 original model licence (use restrictions)
    "deepseek-license": Bucket.VENDOR,
    "baichuan2": Bucket.VENDOR,  # Baichuan 2 community licence: application, user caps
    "baichuan2-community-license": Bucket.VENDOR,
    "internlm": Bucket.VENDOR,  # InternLM 1/2: registration for commercial use
    "internlm-license": Bucket.VENDOR,
    "chatglm": Bucket.VENDOR,  # ChatGLM 1-3: registration
    "chatglm3-6b": Bucket.VENDOR,
    "glm-4": Bucket.VENDOR,
    "glm-4-9b": Bucket.VENDOR,
    "llama2": Bucket.VENDOR,
    "llama3": Bucket.VENDOR,
    "gemma": Bucket.VENDOR,
}


@dataclass(frozen=True, slots=True)
class LicenceTable:
    ids: Mapping[str, Bucket]
    names: Mapping[str, Bucket]

    def bucket(self, licence: str | None, licence_name: str | None) -> Bucket:
        """The bucket of one licence as a model card states it."""
        if not licence:
            return Bucket.UNKNOWN
        key = licence.strip().lower()
        if key == "other":
            return self.names.get((licence_name or "").strip().lower(), Bucket.UNKNOWN)
        if key in self.ids:
            return self.ids[key]
        for pattern, bucket in self.ids.items():
            if fnmatch.fnmatchcase(key, pattern):
                return bucket
        return Bucket.UNKNOWN

    def strictest(self, licences: Iterable[tuple[str | None, str | None]]) -> Bucket:
        """The most restrictive bucket of several (a list of licences on one card, or a lineage)."""
        buckets = [self.bucket(licence, name) for licence, name in licences]
        return max(buckets, default=Bucket.UNKNOWN)
