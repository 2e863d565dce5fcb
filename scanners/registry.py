"""The explicit registry: which scanner handles which sniffed format."""

from __future__ import annotations

from functools import cache

from .base import Scanner
from .formats import FileFormat


@cache
def _registry() -> dict[FileFormat, Scanner]:
    # Imported here: the format scanners import the engine's collaborators, which import this module.
    from .archives import TarScanner, UnscannableScanner, ZipScanner  # noqa: PLC0415
    from .compressed import CompressedScanner  # noqa: PLC0415
    from .gguf import GgufScanner  # noqa: PLC0415
    from .keras import KerasH5Scanner  # noqa: PLC0415
    from .numpy_npy import NpyScanner  # noqa: PLC0415
    from .onnx import OnnxScanner  # noqa: PLC0415
    from .passive import PassiveScanner, TfliteScanner, UnknownScanner  # noqa: PLC0415
    from .pickled import PickleScanner  # noqa: PLC0415
    from .safetensors_header import SafetensorsScanner  # noqa: PLC0415
    from .tensorflow_pb import TensorflowProtobufScanner  # noqa: PLC0415
    from .text import JinjaScanner, JsonScanner, PythonSourceScanner, ScriptScanner, TextScanner  # noqa: PLC0415

    compressed = CompressedScanner()
    passive = PassiveScanner()
    return {
        FileFormat.EMPTY: passive,
        FileFormat.PICKLE: PickleScanner(),
        FileFormat.ZIP: ZipScanner(),
        FileFormat.TAR: TarScanner(),
        FileFormat.GZIP: compressed,
        FileFormat.BZIP2: compressed,
        FileFormat.XZ: compressed,
        FileFormat.LZMA: compressed,
        FileFormat.ZLIB: compressed,
        FileFormat.JOBLIB_ZFILE: compressed,
        FileFormat.UNSCANNABLE_CONTAINER: UnscannableScanner(),
        FileFormat.NPY: NpyScanner(),
        FileFormat.GGUF: GgufScanner(),
        FileFormat.GGML: passive,
        FileFormat.HDF5: KerasH5Scanner(),
        FileFormat.SAFETENSORS: SafetensorsScanner(),
        FileFormat.ONNX: OnnxScanner(),
        FileFormat.TF_PROTOBUF: TensorflowProtobufScanner(),
        FileFormat.TFLITE: TfliteScanner(),
        FileFormat.JSON: JsonScanner(),
        FileFormat.PYTHON: PythonSourceScanner(),
        FileFormat.JINJA: JinjaScanner(),
        FileFormat.SCRIPT: ScriptScanner(),
        FileFormat.TEXT: TextScanner(),
        FileFormat.PASSIVE_DATA: passive,
        FileFormat.UNKNOWN: UnknownScanner(),
    }


def scanner_for(fmt: FileFormat) -> Scanner:
    return _registry()[fmt]


def registered_formats() -> frozenset[FileFormat]:
    return frozenset(_registry())
