"""The rule catalogue: every finding hubgate can emit, with a stable id and a default severity.

Rule ids are part of the public contract (policies and stored reports refer to them): rename none, add
new ones. Bump :data:`RULESET_VERSION` whenever a rule, an allowlist or a deny-list changes, so that the
mirror knows stored verdicts were made by older rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Finding, Severity

RULESET_VERSION = "2026.12.05"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    title: str

    def finding(
        self,
        message: str,
        *,
        location: str = "",
        evidence: str = "",
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            message=message,
            location=location,
            evidence=evidence,
        )


_C, _H, _M, _L, _I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO

# --- pickle -------------------------------------------------------------------------------------------
PICKLE_DANGEROUS_GLOBAL = Rule("pickle.dangerous-global", _C, "Pickle imports a known-dangerous callable")
PICKLE_NON_ALLOWLISTED = Rule("pickle.non-allowlisted-global", _H, "Pickle imports a non-allowlisted global")
PICKLE_UNKNOWN_CALLABLE = Rule("pickle.unknown-callable", _M, "Pickle calls an unknown third-party function")
PICKLE_UNKNOWN_CLASS = Rule("pickle.unknown-class", _L, "Pickle instantiates an unknown third-party class")
PICKLE_DYNAMIC_IMPORT = Rule("pickle.dynamic-import", _C, "Pickle imports a name computed at load time")
PICKLE_ATTRIBUTE_PATH = Rule("pickle.attribute-path", _C, "Pickle walks a dotted attribute path")
PICKLE_INDIRECT_CALL = Rule(
    "pickle.indirect-call", _H, "Pickle calls something that is not an imported global"
)
PICKLE_NESTED = Rule("pickle.nested-payload", _C, "Pickle carries another serialized payload it loads")
PICKLE_EXTENSION = Rule("pickle.extension-registry", _M, "Pickle uses copyreg extension codes")
PICKLE_CODEC_ABUSE = Rule("pickle.codec-abuse", _H, "Pickle computes data through an unusual codec")
PICKLE_STACKED = Rule("pickle.stacked-streams", _L, "Several pickles follow each other in one stream")
PICKLE_TRAILING = Rule("pickle.trailing-data", _I, "Bytes follow the last pickle")
PICKLE_PERSISTENT = Rule("pickle.persistent-id", _I, "Pickle uses persistent ids resolved by the loader")
PICKLE_BROKEN = Rule("pickle.broken-stream", _L, "Pickle stream breaks after executable opcodes")
JOBLIB_EXTERNAL_FILE = Rule(
    "joblib.external-array-file", _M, "Joblib pickle loads an array from another file"
)

# --- PyTorch -----------------------------------------------------------------------------------------
TORCHSCRIPT_CODE = Rule("pytorch.torchscript-code", _I, "TorchScript archive carries compiled code")
TORCHSCRIPT_SUSPICIOUS = Rule("pytorch.torchscript-suspicious", _H, "TorchScript code calls risky operations")
TORCH_LEGACY_TAR = Rule("pytorch.legacy-tar", _I, "Legacy tar-format PyTorch checkpoint")

# --- archives and compression ------------------------------------------------------------------------
ARCHIVE_TRAVERSAL = Rule("archive.path-traversal", _H, "Archive member escapes the extraction folder")
ARCHIVE_ABSOLUTE = Rule("archive.absolute-path", _H, "Archive member has an absolute path")
ARCHIVE_LINK = Rule("archive.link-member", _H, "Archive member is a symbolic or hard link")
ARCHIVE_SPECIAL = Rule("archive.special-member", _M, "Archive member is a device, fifo or other special file")
ARCHIVE_BOMB = Rule("archive.decompression-bomb", _H, "Archive or stream inflates beyond the limits")
ARCHIVE_OVERLAP = Rule("archive.overlapping-members", _H, "Archive members share or overlap their data")
ARCHIVE_DUPLICATE = Rule("archive.duplicate-member", _M, "Two archive members have the same name")
ARCHIVE_HEADER_MISMATCH = Rule("archive.header-mismatch", _M, "Zip local and central headers disagree")
ARCHIVE_CRC = Rule("archive.crc-mismatch", _M, "Zip member does not match its CRC-32")
ARCHIVE_ENCRYPTED = Rule("archive.encrypted-member", _M, "Archive member is encrypted and cannot be scanned")
ARCHIVE_FLAGS = Rule("archive.flag-tampering", _M, "Zip flag bits disagree with the member's real content")
ARCHIVE_METHOD = Rule(
    "archive.unsupported-compression", _M, "Archive member uses a compression we cannot read"
)
ARCHIVE_UNSCANNABLE = Rule("archive.unscannable-container", _H, "Container format the scanner cannot open")
ARCHIVE_POLYGLOT = Rule("archive.polyglot", _M, "Content of one format is also a zip archive")
ARCHIVE_PREPENDED = Rule("archive.prepended-data", _M, "Data precedes the archive's first member")

# --- NumPy -------------------------------------------------------------------------------------------
NUMPY_OBJECT_ARRAY = Rule("numpy.object-array", _L, "NumPy object array: loading it unpickles its content")
NUMPY_SIZE_MISMATCH = Rule("numpy.size-mismatch", _L, "NumPy array data size differs from its header")

# --- safetensors -------------------------------------------------------------------------------------
ST_HEADER_SIZE = Rule("safetensors.header-size", _H, "Header length is out of bounds")
ST_HEADER_JSON = Rule("safetensors.header-invalid-json", _H, "Header is not a valid JSON object")
ST_DUPLICATE_KEY = Rule("safetensors.duplicate-key", _H, "Header repeats a key")
ST_DTYPE = Rule("safetensors.unknown-dtype", _M, "Tensor has an unknown dtype")
ST_TENSOR_ENTRY = Rule("safetensors.invalid-tensor-entry", _H, "Tensor entry is malformed")
ST_SHAPE = Rule("safetensors.shape-mismatch", _H, "dtype x shape disagrees with the tensor's byte length")
ST_OFFSETS = Rule("safetensors.offsets-out-of-range", _H, "Tensor offsets fall outside the data section")
ST_OVERLAP = Rule("safetensors.overlapping-tensors", _H, "Tensors overlap in the data section")
ST_GAP = Rule("safetensors.data-gap", _M, "Bytes of the data section belong to no tensor")
ST_TRAILING = Rule("safetensors.trailing-bytes", _M, "Bytes follow the last tensor")
ST_METADATA = Rule("safetensors.invalid-metadata", _M, "__metadata__ is not a flat string-to-string map")
ST_NESTING = Rule("safetensors.nesting-depth", _H, "Header JSON nests deeper than the format allows")

# --- templates, GGUF, configs, remote code ------------------------------------------------------------
TEMPLATE_ESCAPE = Rule("template.sandbox-escape", _C, "Jinja template reaches Python internals")
TEMPLATE_SUSPICIOUS = Rule(
    "template.suspicious-construct", _H, "Jinja template uses constructs that hide access"
)
TEMPLATE_PRESENT = Rule("template.chat-template", _I, "Chat template present (reviewed, nothing risky)")
TEMPLATE_UNPARSEABLE = Rule("template.unparseable", _L, "Chat template does not parse as Jinja2")
GGUF_MALFORMED = Rule("gguf.malformed", _H, "GGUF structure violates the format (parser exploit class)")
REMOTE_CODE_AUTO_MAP = Rule("remote-code.auto-map", _M, "auto_map makes trust_remote_code run repo code")
REMOTE_CODE_CUSTOM_PIPELINE = Rule(
    "remote-code.custom-pipeline", _M, "custom_pipelines makes trust_remote_code run repo code"
)
CONFIG_DUPLICATE_KEY = Rule("config.duplicate-key", _M, "A config key that can lead to code appears twice")
REMOTE_CODE_PYTHON = Rule("remote-code.python-source", _M, "Python source that trust_remote_code would run")
REMOTE_CODE_SCRIPT = Rule("remote-code.script", _L, "Shell or batch script in the repository")

# --- ONNX, Keras, TensorFlow ---------------------------------------------------------------------------
ONNX_EXTERNAL_TRAVERSAL = Rule("onnx.external-data-path", _C, "External data path is absolute or traverses")
ONNX_EXTERNAL_DATA = Rule("onnx.external-data", _I, "Model reads tensors from an external file")
ONNX_EXTERNAL_PAYLOAD = Rule(
    "onnx.external-data-payload", _H, "Declared ONNX tensor data holds content a loader would execute"
)
ONNX_EXTERNAL_MISMATCH = Rule(
    "onnx.external-data-mismatch", _M, "ONNX tensor data does not match the tensors the graph declares"
)
ONNX_CUSTOM_DOMAIN = Rule("onnx.custom-operator-domain", _L, "Model uses operators from a custom domain")
KERAS_LAMBDA = Rule("keras.lambda-layer", _H, "Keras Lambda layer: deserializing it runs code")
KERAS_UNSAFE_MODULE = Rule("keras.unsafe-module", _H, "Keras config imports a module outside Keras")
KERAS_DANGEROUS_FUNCTION = Rule(
    "keras.dangerous-function", _C, "Keras config references a dangerous callable"
)
KERAS_EXTERNAL_LOAD = Rule("keras.external-load", _H, "Keras layer loads an external model or file")
KERAS_UNSAFE_TOGGLE = Rule("keras.safe-mode-toggle", _C, "Keras config disables safe deserialization")
KERAS_CUSTOM_OBJECT = Rule("keras.custom-object", _L, "Keras config needs a registered custom object")
TF_UNSAFE_OP = Rule(
    "tensorflow.unsafe-op", _H, "TensorFlow graph uses an operation that touches files or Python"
)

# --- engine ------------------------------------------------------------------------------------------
LIMIT_EXCEEDED = Rule("limit.exceeded", _M, "A scan limit was exceeded before the content was fully checked")
MODELSCAN_ISSUE = Rule("modelscan.unsafe-operator", _H, "modelscan reported an unsafe operator")
