"""The registry of malicious-sample techniques and the helpers their builders share.

Generation (``make_malicious``): one file per technique, each naming its advisory or write-up.

Payloads are harmless if they ever run: they only create a marker file in ``marker_dir`` (a few, like
webbrowser or pip, would at worst do nothing useful). The test session asserts no marker appears.
Run as a script to write the samples somewhere: ``python -m tests.scanners.make_malicious OUT MARKERS``.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.scanners import pickle_asm as asm

TORCH_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    technique: str
    reference: str
    expected_rules: tuple[str, ...]  # the scan must report at least one of these
    name_hint: str | None = None


@dataclass(frozen=True)
class _Spec:
    name: str
    filename: str
    technique: str
    reference: str
    expected_rules: tuple[str, ...]
    build: Callable[[Path, Path], None]  # (output file, marker file)


SPECS: list[_Spec] = []


def technique(name: str, filename: str, what: str, reference: str, *rules: str) -> Callable[..., object]:
    def register(build: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
        SPECS.append(_Spec(name, filename, what, reference, rules, build))
        return build

    return register


DANGEROUS = "pickle.dangerous-global"


def cmd(marker: Path) -> str:
    return f"touch {marker}"


def py(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def system_pickle(marker: Path, version: int = 4) -> bytes:
    return asm.program(asm.call(asm.stack_global("posix", "system"), asm.text(cmd(marker))), version=version)


class Reduce:
    """An object whose pickle calls ``function(*args)``: how real payloads are written with pickle.dumps."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, self.args


def write_zip(out: Path, members: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_STORED) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some samples
        with zipfile.ZipFile(out, "w", compress) as archive:
            for name, data in members:
                archive.writestr(name, data)
