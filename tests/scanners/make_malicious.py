"""Generate the malicious samples: one file per technique, each naming its advisory or write-up.

Payloads are harmless if they ever run: they only create a marker file in ``marker_dir`` (a few, like
webbrowser or pip, would at worst do nothing useful). The test session asserts no marker appears.
Run as a script to write the samples somewhere: ``python -m tests.scanners.make_malicious OUT MARKERS``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from tests.scanners import (
    malicious_configs,
    malicious_containers,
    malicious_exhaustion,
    malicious_formats,
    malicious_nested,
    malicious_pickles,
)
from tests.scanners.malicious_registry import SPECS, Sample

# Importing the technique modules registers their builders.
TECHNIQUE_MODULES = (
    malicious_pickles,
    malicious_containers,
    malicious_formats,
    malicious_configs,
    malicious_exhaustion,
    malicious_nested,
)
__all__ = ["SPECS", "Sample", "build_all", "samples_in"]


def build_all(out_dir: Path, marker_dir: Path) -> list[Sample]:
    out_dir.mkdir(parents=True, exist_ok=True)
    marker_dir.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        folder = out_dir / spec.name
        folder.mkdir(exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the libraries' own deprecation notices are not under test
            spec.build(folder / spec.filename, marker_dir / f"{spec.name}.marker")
    return samples_in(out_dir)


def samples_in(out_dir: Path) -> list[Sample]:
    """The samples build_all made in `out_dir` (for a process that did not build them itself)."""
    return [
        Sample(
            spec.name,
            out_dir / spec.name / spec.filename,
            spec.technique,
            spec.reference,
            spec.expected_rules,
            name_hint=spec.filename,
        )
        for spec in SPECS
    ]


if __name__ == "__main__":
    built = build_all(Path(sys.argv[1]), Path(sys.argv[2]))
    for sample in built:
        print(f"{sample.name}\t{sample.path}\t{sample.reference}")
