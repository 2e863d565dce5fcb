"""The explicit registry: which scanner handles which sniffed format."""

from __future__ import annotations

from functools import cache

from .archives import TarScanner, UnscannableScanner, ZipScanner
from .compressed import CompressedScanner
from .context import Scanner
from .formats import FileFormat
from .gguf import GgufScanner
from .keras import KerasH5Scanner
from .numpy_npy import NpyScanner
from .onnx import OnnxScanner
from .passive import PassiveScanner, TfliteScanner, UnknownScanner
from .pickled import PickleScanner
from .safetensors_header import SafetensorsScanner
from .tensorflow_pb import TensorflowProtobufScanner
from .text import JinjaScanner, JsonScanner, PythonSourceScanner, ScriptScanner, TextScanner


@cache
def _registry() -> dict[FileFormat, Scanner]:
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
