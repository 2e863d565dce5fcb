"""What a pickle may import: an allowlist of what real checkpoints need, and a graded list of the rest.

Order of judgement for an imported global (``module.name`` as find_class would resolve it):
1. exactly allowlisted -> nothing to report;
2. a known-dangerous module, callable or attribute walk -> CRITICAL;
3. anything else from the standard library or builtins (where gadgets live) -> HIGH;
4. an unlisted function of a gadget-rich ML framework (torch, numpy, ...) that is called -> HIGH;
5. an unknown third-party function that is called -> MEDIUM; an unknown class, or a function that is
   only referenced -> LOW (full-model pickles of custom code are legitimate; policy may still ask).
Deny-lists alone have been bypassed dozens of times, so (3)-(5) exist to catch what (2) does not know.
"""

from __future__ import annotations

import _compat_pickle
import re
import sys
from dataclasses import dataclass

from .base import Severity
from .rules import (
    PICKLE_ATTRIBUTE_PATH,
    PICKLE_DANGEROUS_GLOBAL,
    PICKLE_NON_ALLOWLISTED,
    PICKLE_UNKNOWN_CALLABLE,
    PICKLE_UNKNOWN_CLASS,
    Rule,
)
from .textutil import words


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: Rule
    severity: Severity
    reason: str


def _expand(entries: dict[str, str]) -> frozenset[str]:
    """``{"module": "a b c"}`` -> ``{"module.a", "module.b", "module.c"}``."""
    return frozenset(f"{module}.{name}" for module, names in entries.items() for name in names.split())


_NUMPY_CORE = ("numpy.core", "numpy._core")
_NUMPY_SCALARS = (
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc intp uintp longlong "
    "ulonglong float16 float32 float64 half single double longdouble complex64 complex128 "
    "complex256 clongdouble csingle cdouble str_ bytes_ void object_ datetime64 timedelta64 "
    "int_ uint float_ complex_ unicode_ string_ short ushort byte ubyte long ulong"
)
_TORCH_STORAGES = (
    "FloatStorage DoubleStorage HalfStorage BFloat16Storage LongStorage IntStorage ShortStorage "
    "CharStorage ByteStorage BoolStorage ComplexFloatStorage ComplexDoubleStorage QInt8Storage "
    "QUInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage UntypedStorage TypedStorage "
    "Float8_e4m3fnStorage Float8_e5m2Storage Float8_e4m3fnuzStorage Float8_e5m2fnuzStorage "
    "UInt16Storage UInt32Storage UInt64Storage"
)
_TORCH_DTYPES = (
    "float32 float float64 double float16 half bfloat16 complex32 complex64 complex128 cfloat cdouble "
    "uint8 uint16 uint32 uint64 int8 int16 short int32 int int64 long bool quint8 qint8 qint32 "
    "quint4x2 quint2x4 float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu "
    "float4_e2m1fn_x2 bits8 bits16 chalf"
)

ALLOWED_GLOBALS: frozenset[str] = _expand(
    {
        "collections": "OrderedDict defaultdict deque Counter ChainMap",
        "builtins": "set frozenset list dict tuple bytearray bytes complex int float str bool slice range "
        "object NotImplemented Ellipsis",
        "__builtin__": "set frozenset list dict tuple bytearray bytes complex int float str bool slice "
        "object unicode long",
        "copyreg": "_reconstructor",
        "copy_reg": "_reconstructor",
        "_codecs": "encode",
        "datetime": "datetime date time timedelta timezone",
        "decimal": "Decimal",
        "fractions": "Fraction",
        "uuid": "UUID",
        "argparse": "Namespace",
        "types": "SimpleNamespace",
        "pathlib": "Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath",
        "array": "array _array_reconstructor",
        "re": "_compile",
        "enum": "Enum IntEnum",
        "logging": "getLogger Logger RootLogger",
        "torch": _TORCH_STORAGES + " " + _TORCH_DTYPES + " Size device dtype layout memory_format "
        "strided sparse_coo sparse_csr sparse_csc sparse_bsr sparse_bsc _mkldnn contiguous_format "
        "channels_last channels_last_3d preserve_format Tensor finfo iinfo qscheme per_tensor_affine "
        "per_channel_affine per_tensor_symmetric per_channel_symmetric per_channel_affine_float_qparams",
        "torch._utils": "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
        "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor _rebuild_nested_tensor "
        "_rebuild_device_tensor_from_numpy _rebuild_device_tensor_from_cpu_tensor "
        "_rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass _rebuild_xla_tensor "
        "_rebuild_mtia_tensor _rebuild_from_type _rebuild_from_type_v2",
        "torch._tensor": "_rebuild_from_type _rebuild_from_type_v2",
        "torch.nn.parameter": "Parameter UninitializedParameter UninitializedBuffer Buffer",
        "torch.storage": "TypedStorage UntypedStorage _load_from_bytes",
        "torch.serialization": "_get_layout",
        "torch.jit._pickle": "build_intlist build_tensorlist build_doublelist build_boollist "
        "build_tensor_from_id restore_type_tag",
        "torch.distributed._shard.sharded_tensor": "ShardedTensor",
        "torch.torch_version": "TorchVersion",
        "torch.amp.grad_scaler": "GradScaler",
        "torch.cuda.amp.grad_scaler": "GradScaler",
        "numpy": _NUMPY_SCALARS + " dtype ndarray matrix generic number integer floating "
        "complexfloating signedinteger unsignedinteger inexact flexible character",
        "numpy.ma.core": "MaskedArray _mareconstruct MaskedConstant",
        "numpy.random": "RandomState Generator MT19937 PCG64 PCG64DXSM Philox SFC64 BitGenerator",
        "numpy.random._pickle": "__randomstate_ctor __bit_generator_ctor __generator_ctor",
        "numpy.random.mtrand": "RandomState",
        "numpy.random._mt19937": "MT19937",
        "numpy.random._pcg64": "PCG64 PCG64DXSM",
        "numpy.random._philox": "Philox",
        "numpy.random._sfc64": "SFC64",
        "numpy.random._generator": "Generator",
        "numpy.random.bit_generator": "SeedSequence",
        "numpy.dtypes": "BoolDType Int8DType UInt8DType Int16DType UInt16DType Int32DType UInt32DType "
        "Int64DType UInt64DType LongDType ULongDType LongLongDType ULongLongDType Float16DType "
        "Float32DType Float64DType LongDoubleDType Complex64DType Complex128DType CLongDoubleDType "
        "ObjectDType BytesDType StrDType VoidDType DateTime64DType TimeDelta64DType StringDType",
        "joblib.numpy_pickle": "NumpyArrayWrapper",
        "joblib.numpy_pickle_compat": "NDArrayWrapper ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle": "NumpyArrayWrapper NDArrayWrapper ZNDArrayWrapper",
    }
) | frozenset(
    f"{core}.{name}"
    for core in _NUMPY_CORE
    for name in (
        "multiarray._reconstruct",
        "multiarray.scalar",
        "multiarray._frombuffer",
        "numeric._frombuffer",
        "_multiarray_umath._reconstruct",
        "_internal._reconstruct",
        "multiarray.dtype",
    )
)

# Module prefixes whose classes (CamelCase names) are ordinary model objects: instantiating them is what
# a full-model pickle does. Their functions are still judged one by one.
ML_CLASS_NAMESPACES = (
    "torch.nn.", "torch.optim.", "torch.ao.nn.", "torch.nn.utils.", "torch.distributions.",
    "torch.distributed.checkpoint.metadata", "torch.distributed.tensor.", "torch.distributed._tensor.",
    "torch.distributed.device_mesh",
    "torch.utils.data.sampler", "torch.amp.", "torch.autograd.grad_mode",
    "sklearn.", "scipy.sparse.", "scipy.stats.", "scipy.interpolate.", "scipy.spatial.",
    "xgboost.", "lightgbm.", "catboost.", "statsmodels.", "pandas.", "transformers.",
    "tokenizers.", "sentence_transformers.", "timm.", "ultralytics.", "peft.", "accelerate.",
    "diffusers.", "lightning.", "pytorch_lightning.", "lightning_fabric.", "torchvision.",
    "torchaudio.", "torchmetrics.", "sentencepiece.", "gensim.", "spacy.", "thinc.", "fastai.",
    "numpy.", "omegaconf.", "hydra.", "yolov5.", "models.", "utils.",
)  # fmt: skip

# Naming conventions of reconstruction helpers (Cython __pyx_unpickle_*, pandas _new_Index, numpy
# ctors). Accepted only inside ML_CLASS_NAMESPACES.
_RECONSTRUCTOR_NAME = re.compile(
    r"^(__pyx_unpickle_\w+|_?unpickle\w*|_new_\w+|_?reconstruct\w*|_?rebuild\w*|__\w+_ctor|newObj|"
    r"_?restore\w*|new_block\w*|_create_\w+|_from_state\w*)$"
)

# Whole modules (and their submodules) where importing anything is an attack or a loader of code.
DANGEROUS_MODULES: frozenset[str] = words(
    """
    os posix nt posixpath ntpath subprocess _posixsubprocess _bootsubprocess pty commands popen2 sys
    runpy code codeop compileall py_compile marshal importlib imp pkgutil zipimport pydoc ctypes
    _ctypes cffi socket _socket ssl _ssl http httplib urllib urllib2 urllib3 requests aiohttp httpx
    ftplib smtplib poplib imaplib nntplib telnetlib xmlrpc socketserver webbrowser shutil tempfile
    io _io _pyio multiprocessing _multiprocessing concurrent threading _thread signal _signal
    asyncio selectors select pdb bdb trace profile cProfile _lsprof timeit doctest idlelib lib2to3
    test unittest distutils setuptools pip _distutils_hack ensurepip venv site sysconfig shelve dbm
    sqlite3 _sqlite3 pickle _pickle cPickle pickletools dill cloudpickle glob fileinput filecmp mmap
    resource faulthandler gc inspect atexit sched cmd readline rlcompleter _osx_support _aix_support
    _pyrepl pyrepl _interpreters _xxsubinterpreters _interpqueues _interpchannels _imp
    _frozen_importlib _frozen_importlib_external zipapp tarfile zipfile syslog pexpect ptyprocess sh
    plumbum fabric invoke paramiko IPython ipykernel jupyter_client _winapi winreg msvcrt _msi
    msilib nturl2path builtins __builtin__ __builtins__ operator _operator functools _functools
    itertools types platform uuid _uuid logging weakref _weakref copy emails email mailbox tkinter
    turtle wsgiref cgi cgitb modulefinder pyclbr torch.hub torch.jit torch.package
    torch.serialization torch._dynamo torch._inductor torch.fx torch.utils.cpp_extension
    torch.utils.bottleneck torch.utils.collect_env torch.utils._config_module
    torch.utils.data.datapipes torch.distributed.rpc torch.distributed.launch torch.distributed.run
    torch.distributed.elastic torch.distributed.launcher torch.multiprocessing torch._C torch.ops torch._ops
    torch.classes torch._classes torch.library torch._export torch.export torch.compiler torch.onnx
    torch.testing torch.backends torch.cuda.memory torch.profiler torch.autograd.profiler
    torch._functorch torch.func torch._higher_order_ops torch._prims torch._refs torch._logging
    numpy.testing numpy.f2py numpy.distutils numpy.ctypeslib numpy.lib.npyio numpy.lib.format
    numpy.lib._npyio_impl numpy.lib._format_impl numpy._pytesttester numpy.lib.utils pandas.io
    pandas.eval pandas.core.computation pandas.util pandas._testing pandas.read_pickle
    pandas.read_csv pandas.read_json pandas.read_sql pandas.read_parquet pandas.read_html
    sklearn.utils._testing sklearn.datasets sklearn.externals.joblib.numpy_pickle_utils
    transformers.dynamic_module_utils transformers.utils.hub transformers.pipelines keras tensorflow
    tf_keras jax flax onnx onnxruntime joblib.load joblib.numpy_pickle.load sympy.parsing numexpr
    yaml ruamel jinja2 mako huggingface_hub safetensors.torch boto3 botocore
    """
)

# Exact dangerous callables inside otherwise allowed namespaces, and in modules not listed above.
DANGEROUS_GLOBALS: frozenset[str] = words(
    """
    numpy.load numpy.loads numpy.save numpy.savez numpy.savez_compressed numpy.savetxt numpy.loadtxt
    numpy.genfromtxt numpy.fromfile numpy.memmap numpy.tofile numpy.frompyfunc numpy.vectorize
    numpy.core._ufunc_reconstruct numpy._core._ufunc_reconstruct torch.load torch.save torch.compile
    torch.from_file torch.storage._load_from_file torch.UntypedStorage.from_file joblib.load
    joblib.dump pandas.read_pickle pandas.eval scipy.io.loadmat scipy.io.savemat sympy.sympify
    sympy.parse_expr numexpr.evaluate sklearn.externals.joblib.load
    transformers.AutoModel.from_pretrained transformers.pipeline
    """
)

# Attribute names that make any dotted path dangerous wherever they appear.
DANGEROUS_ATTRIBUTES: frozenset[str] = words(
    """
    system popen popen2 popen3 popen4 spawn spawnl spawnle spawnlp spawnv spawnve spawnvp execl
    execle execlp execv execve execvp fork forkpty kill eval exec execfile compile open __import__
    import_module getattr setattr delattr globals locals vars loads load run call check_call
    check_output Popen getoutput getstatusoutput run_path run_module runcode runsource interact
    write_file write_text write_bytes unlink remove rmtree rename replace chmod chown symlink
    urlopen urlretrieve get post resolve_name locate find_spec module_from_spec exec_module
    load_module __builtins__ __globals__ __subclasses__ __class__ __base__ __bases__ __mro__
    __dict__ __code__ __closure__ __reduce__ __reduce_ex__ __getattribute__ __getattr__ __setattr__
    __init__ __new__ __call__ __self__ __func__ __module__ __loader__ __spec__ __import__ attrgetter
    methodcaller itemgetter partial
    """
)

_EXTRA_STDLIB = words(
    """
    _pyrepl _interpreters _xxsubinterpreters _interpqueues _interpchannels __builtin__ __builtins__
    commands popen2 copy_reg exceptions cPickle urllib2 httplib cStringIO StringIO thread Queue
    SocketServer
    """
)
STDLIB_TOP_LEVEL: frozenset[str] = frozenset(sys.stdlib_module_names) | _EXTRA_STDLIB

# Frameworks whose internals are full of gadgets: an unlisted function that is *called* is HIGH.
GADGET_RICH_PACKAGES = words(
    """
    torch numpy pandas scipy transformers tensorflow keras jax joblib dill cloudpickle setuptools
    pip IPython huggingface_hub accelerate datasets
    """
)

_MATH_NAMESPACES = (
    "torch._C._nn.", "torch._C._VariableFunctions.", "torch._C._special.", "torch._C._linalg.",
    "torch._C._fft.", "torch._C._TensorBase.",
)  # fmt: skip
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalise(module: str, name: str) -> list[tuple[str, str]]:
    """The (module, name) pairs find_class may end up importing: as written, and after the Python 2
    compatibility mapping the unpickler applies to protocol 0-2 streams."""
    pairs = [(module, name)]
    mapped = _compat_pickle.NAME_MAPPING.get((module, name))
    if mapped is not None:
        pairs.append(mapped)
    elif module in _compat_pickle.IMPORT_MAPPING:
        pairs.append((_compat_pickle.IMPORT_MAPPING[module], name))
    return pairs


def _under(path: str, prefixes: frozenset[str]) -> str | None:
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if candidate in prefixes:
            return candidate
    return None


def _looks_like_class(name: str) -> bool:
    # CamelCase by convention, also for private classes (sklearn's _BinMapper).
    last = name.rsplit(".", 1)[-1].lstrip("_")
    return bool(last) and last[0].isupper()


def classify(module: str, name: str, *, called: bool) -> Verdict | None:
    """Judge one imported global. Every spelling find_class may resolve is judged and the worst wins:
    an allowed spelling never excuses a dangerous one."""
    worst: Verdict | None = None
    for m, n in normalise(module, name):
        verdict = _classify_one(m, n, called=called)
        if verdict is not None and (worst is None or verdict.severity.rank > worst.severity.rank):
            worst = verdict
    return worst


def _classify_one(module: str, name: str, *, called: bool) -> Verdict | None:
    full = f"{module}.{name}"
    if full in ALLOWED_GLOBALS:
        return None
    if module == "__torch__" or module.startswith("__torch__."):
        return None  # TorchScript classes: resolved from the archive's compiled code, never imported
    if not all(_IDENTIFIER.fullmatch(part) for part in full.split(".")):
        # find_class would fail on it, but a name crafted to confuse a scanner is hostile.
        return Verdict(PICKLE_DANGEROUS_GLOBAL, Severity.CRITICAL, "malformed module or attribute name")
    if not called and full.startswith(_MATH_NAMESPACES):
        # torch's builtin math functions live in torch._C; a model storing F.gelu references them.
        return Verdict(PICKLE_UNKNOWN_CLASS, Severity.LOW, "framework math function referenced (not called)")
    denied = _under(full, DANGEROUS_MODULES)
    if denied is not None or full in DANGEROUS_GLOBALS:
        what = f"module {denied}" if denied else "callable"
        return Verdict(PICKLE_DANGEROUS_GLOBAL, Severity.CRITICAL, f"known-dangerous {what}")
    if "." in name:
        walk = name.split(".")
        if any(part.startswith("_") or part in DANGEROUS_ATTRIBUTES for part in walk):
            return Verdict(
                PICKLE_ATTRIBUTE_PATH, Severity.CRITICAL, "attribute walk to a private or risky name"
            )
    top = module.split(".", 1)[0]
    if top in STDLIB_TOP_LEVEL:
        return Verdict(PICKLE_NON_ALLOWLISTED, Severity.HIGH, "standard-library global outside the allowlist")
    in_ml_namespace = any(full.startswith(prefix) for prefix in ML_CLASS_NAMESPACES)
    last = name.rsplit(".", 1)[-1]
    if in_ml_namespace and (_looks_like_class(name) or _RECONSTRUCTOR_NAME.match(last)):
        return None
    if _looks_like_class(name):
        return Verdict(PICKLE_UNKNOWN_CLASS, Severity.LOW, "class outside the allowlist")
    if not called:
        return Verdict(
            PICKLE_UNKNOWN_CLASS, Severity.LOW, "function referenced (not called) outside the allowlist"
        )
    if top in GADGET_RICH_PACKAGES:
        return Verdict(
            PICKLE_NON_ALLOWLISTED, Severity.HIGH, f"{top} function outside the allowlist is called"
        )
    return Verdict(PICKLE_UNKNOWN_CALLABLE, Severity.MEDIUM, "unknown function is called")


# Callables that load another serialized object from their argument (nested payloads).
LOADER_GLOBALS = words(
    """
    pickle.loads pickle.load _pickle.loads _pickle.load cPickle.loads dill.loads dill._dill.loads
    cloudpickle.loads torch.load torch.serialization.load torch.storage._load_from_bytes
    marshal.loads numpy.loads joblib.load pandas.read_pickle base64.b64decode base64.decodebytes
    base64.b32decode base64.b16decode base64.a85decode base64.b85decode base64.urlsafe_b64decode
    binascii.a2b_base64 zlib.decompress gzip.decompress bz2.decompress lzma.decompress codecs.decode
    _codecs.decode
    """
)

# Loaders that read their argument as a pickle (torch.load: a zip checkpoint or legacy pickles): their
# payload is scanned as a pickle even when it does not sniff as one (a pickle's first opcode need not say
# so, e.g. a 2 MiB string pushed before the calls).
PICKLE_LOADERS = words(
    """
    pickle.loads pickle.load _pickle.loads _pickle.load cPickle.loads dill.loads dill._dill.loads
    cloudpickle.loads torch.load torch.serialization.load torch.storage._load_from_bytes numpy.loads
    joblib.load pandas.read_pickle
    """
)

# Nested-loader whose payload, once scanned clean, is legitimate (torch pickles storages this way).
BENIGN_WHEN_PAYLOAD_CLEAN = frozenset({"torch.storage._load_from_bytes"})

GETATTR_GLOBALS = frozenset({"builtins.getattr", "__builtin__.getattr"})
# Wrappers that only bind their first argument for a later call: as risky as what they wrap.
BINDING_WRAPPERS = frozenset({"functools.partial", "_functools.partial"})
