"""Durations on the command line (`--expires-in 12h`), parsed without importing the server."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from mirror.review.limits import MAX_WAIVER

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90m, 12h, 30d or 2w")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds > MAX_WAIVER.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {MAX_WAIVER.days} days")
    return timedelta(seconds=seconds)
