"""Generate benign samples with the real libraries: what a model repository really holds.

Run as a script: ``python -m tests.scanners.make_benign OUT``.
"""

# ruff: noqa: PLC0415 - heavy ML libraries are imported only by the builders that need them
from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    description: str
    name_hint: str | None = None


_BUILDERS: list[tuple[str, str, str, Callable[[Path], None]]] = []


def benign(
    name: str, filename: str, description: str
) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(build: Callable[[Path], None]) -> Callable[[Path], None]:
        _BUILDERS.append((name, filename, description, build))
        return build

    return register


@dataclass
class TrainingConfig:
    """A stand-in for a user's dataclass saved inside a checkpoint (training_args.bin style)."""

    learning_rate: float = 1e-4
    epochs: int = 3
    tags: list[str] = field(default_factory=lambda: ["a", "b"])


# --- PyTorch -------------------------------------------------------------------------------------------
def _torch_state(dtype_name: str, size: int) -> dict[str, Any]:
    import torch

    dtype = getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    return {
        "embed.weight": torch.randn(size, 16, generator=generator).to(dtype),
        "layer.0.weight": torch.randn(16, 16, generator=generator).to(dtype),
        "layer.0.bias": torch.zeros(16, dtype=dtype),
    }


for _dtype in ("float32", "float16", "bfloat16", "float64", "int8"):

    def _make(dtype: str) -> None:
        @benign(f"torch_state_dict_{dtype}", "pytorch_model.bin", f"torch.save state dict in {dtype}")
        def _build(out: Path) -> None:
            import torch

            torch.save(_torch_state(dtype, 64), out)

    _make(_dtype)


@benign("torch_state_dict_large", "model.pt", "torch.save state dict of ~16 MB")
def _torch_large(out: Path) -> None:
    import torch

    torch.save({f"block.{i}.weight": torch.randn(256, 256) for i in range(64)}, out)


@benign(
    "torch_checkpoint_full", "checkpoint.pth", "checkpoint: model, optimizer, scheduler, epoch, args, rng"
)
def _torch_checkpoint(out: Path) -> None:
    import argparse as ap

    import numpy as np
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.LayerNorm(8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 8)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": 7,
            "args": ap.Namespace(lr=1e-3, name="run"),
            "rng_state": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "best_metric": np.float64(0.91),
            "config": TrainingConfig(),
        },
        out,
    )


@benign("torch_full_module", "model_full.pt", "torch.save of a whole nn.Module")
def _torch_module(out: Path) -> None:
    import torch

    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.GELU()), out)


@benign("torch_legacy_format", "pytorch_model.bin", "legacy (non-zip) torch.save format")
def _torch_legacy(out: Path) -> None:
    import torch

    torch.save(_torch_state("float32", 32), out, _use_new_zipfile_serialization=False)


@benign("torch_legacy_fp16", "legacy_fp16.bin", "legacy torch.save format in fp16")
def _torch_legacy_fp16(out: Path) -> None:
    import torch

    torch.save(_torch_state("float16", 32), out, _use_new_zipfile_serialization=False)


@benign("torchscript_module", "traced.pt", "torch.jit.script saved archive")
def _torchscript(out: Path) -> None:
    import torch

    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())), out)


@benign(
    "torch_tensor_in_plain_pickle", "tensors.pkl", "pickle.dump of tensors (storages via _load_from_bytes)"
)
def _torch_plain_pickle(out: Path) -> None:
    import pickle

    import torch

    out.write_bytes(pickle.dumps({"t": torch.arange(10.0)}))


@benign(
    "torch_parameter_and_rngs_in_plain_pickle",
    "state.pkl",
    "pickle.dump of a Parameter and NumPy generators (_load_from_bytes, __generator_ctor, "
    "__randomstate_ctor, __bit_generator_ctor: allowlisted callables that load bytes or call arguments)",
)
def _torch_param_rng_pickle(out: Path) -> None:
    import pickle

    import numpy as np
    import torch

    state = {
        "weight": torch.nn.Parameter(torch.ones(3, 3)),
        "rng": np.random.default_rng(0),
        "legacy_rng": np.random.RandomState(0),
    }
    out.write_bytes(pickle.dumps(state, protocol=2))


# --- safetensors, NumPy -----------------------------------------------------------------------------
for _st_dtype in ("float32", "float16", "bfloat16", "int64", "bool"):

    def _make_st(dtype: str) -> None:
        @benign(f"safetensors_{dtype}", "model.safetensors", f"safetensors file in {dtype}")
        def _build(out: Path) -> None:
            import torch
            from safetensors.torch import save_file

            tensors = {
                k: (v.to(getattr(torch, dtype)) if dtype != "bool" else v > 0)
                for k, v in _torch_state("float32", 16).items()
            }
            save_file(tensors, str(out), metadata={"format": "pt"})

    _make_st(_st_dtype)


@benign("safetensors_empty", "empty.safetensors", "safetensors file without tensors")
def _st_empty(out: Path) -> None:
    from safetensors.numpy import save_file

    save_file({}, str(out))


@benign("numpy_npy", "array.npy", "np.save of a float array")
def _npy(out: Path) -> None:
    import numpy as np

    np.save(out, np.random.default_rng(0).random((32, 8)))


@benign("numpy_npy_structured", "records.npy", "np.save of a structured array")
def _npy_structured(out: Path) -> None:
    import numpy as np

    np.save(out, np.zeros(4, dtype=[("x", "<f4"), ("name", "S8"), ("v", "<i8", (2,))]))


@benign("numpy_npz", "arrays.npz", "np.savez")
def _npz(out: Path) -> None:
    import numpy as np

    np.savez(out, a=np.arange(10), b=np.ones((3, 3)))


@benign("numpy_npz_compressed", "arrays_c.npz", "np.savez_compressed")
def _npz_c(out: Path) -> None:
    import numpy as np

    np.savez_compressed(out, a=np.arange(1000), b=np.eye(5, dtype=np.float16))


# --- scikit-learn / joblib ---------------------------------------------------------------------------
def _sklearn_models() -> dict[str, object]:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import FunctionTransformer, StandardScaler  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    features, labels = rng.random((60, 4)), rng.integers(0, 2, 60)
    return {
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels),
        "pipeline": make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()).fit(
            features, labels
        ),
        "hgb": HistGradientBoostingClassifier(max_iter=5).fit(features, labels),
    }


for _compression in (None, "zlib", "gzip", "bz2", "xz", "lzma"):

    def _make_joblib(compression: str | None) -> None:
        label = compression or "none"

        @benign(f"sklearn_joblib_{label}", "model.joblib", f"scikit-learn models in joblib, compress={label}")
        def _build(out: Path) -> None:
            import joblib  # type: ignore[import-untyped]

            joblib.dump(_sklearn_models(), out, compress=(compression, 3) if compression else 0)

    _make_joblib(_compression)


@benign("sklearn_pickle", "model.pkl", "scikit-learn models in a plain pickle (protocol 5)")
def _sk_pickle(out: Path) -> None:
    import pickle

    out.write_bytes(pickle.dumps(_sklearn_models(), protocol=5))


@benign("sklearn_pickle_p2", "model_p2.pkl", "scikit-learn models in protocol 2 (_codecs.encode bytes)")
def _sk_pickle2(out: Path) -> None:
    import pickle

    out.write_bytes(pickle.dumps(_sklearn_models()["forest"], protocol=2))


# --- GGUF, ONNX, Keras ---------------------------------------------------------------------------------
_LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content']|trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system_message + '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' }}"
    "{%- elif 'tool_calls' in message %}{%- set tool_call = message.tool_calls[0].function %}"
    "{{- '{\"name\": \"' + tool_call.name + '\", \"parameters\": ' + tool_call.arguments | tojson + '}' }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
_CHATML_TEMPLATE = (
    "{% set ns = namespace(found=false) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    "{% for m in messages %}{% if m.role == 'tool' %}{% set ns.found = true %}{% break %}{% endif %}"
    "{% endfor %}"
    "{% generation %}{{ '' }}{% endgeneration %}{{ raise_exception('x') if false else '' }}"
)


@benign("gguf_llama3_template", "model-q4.gguf", "GGUF with tokens and a Llama 3 chat template")
def _gguf(out: Path) -> None:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("tiny")
    writer.add_context_length(128)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(500)])
    writer.add_token_scores([0.0] * 500)
    writer.add_chat_template(_LLAMA3_TEMPLATE)
    writer.add_tensor("token_embd.weight", np.zeros((500, 8), dtype=np.float16))
    writer.add_tensor("output.weight", np.ones((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@benign("gguf_named_templates", "chatml.gguf", "GGUF with several named ChatML templates")
def _gguf_named(out: Path) -> None:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(out), "qwen2")
    writer.add_chat_template(
        [
            {"name": "default", "template": _CHATML_TEMPLATE},
            {"name": "tool_use", "template": _LLAMA3_TEMPLATE},
        ]
    )
    writer.add_tensor("w", np.zeros(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _onnx_graph(external: bool) -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    relu = helper.make_node("Relu", ["y"], ["z"])
    graph = helper.make_graph(
        [node, relu], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])], initializer=[weight],
    )  # fmt: skip
    model = helper.make_model(graph, producer_name="hubgate-tests")
    if external:
        from onnx.external_data_helper import convert_model_to_external_data

        convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=0
        )
    serialized: bytes = model.SerializeToString()
    return serialized


@benign("onnx_model", "model.onnx", "ONNX MatMul+Relu graph")
def _onnx(out: Path) -> None:
    out.write_bytes(_onnx_graph(False))


@benign("onnx_external_data", "model_ext.onnx", "ONNX model with data in model.onnx_data")
def _onnx_ext(out: Path) -> None:
    out.write_bytes(_onnx_graph(True))


def _dense_config() -> dict[str, object]:
    dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "d",
            "units": 4,
            "activation": {
                "module": "keras.activations",
                "class_name": "function",
                "config": "relu",
                "registered_name": "function",
            },
        },
        "registered_name": None,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                dense,
            ],
        },
        "registered_name": None,
    }


@benign(
    "keras_v3_zip",
    "model.keras",
    "Keras 3 .keras archive (Dense layers), written by hand: TensorFlow not installed",
)
def _keras(out: Path) -> None:
    import h5py  # type: ignore[import-untyped]
    import numpy as np

    weights = io.BytesIO()
    with h5py.File(weights, "w") as handle:
        handle.create_dataset("layers/dense/vars/0", data=np.ones((4, 4), dtype=np.float32))
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2026-01-01@00:00:00"})
        )
        archive.writestr("config.json", json.dumps(_dense_config()))
        archive.writestr("model.weights.h5", weights.getvalue())


@benign("keras_h5_legacy", "tf_model.h5", "legacy Keras HDF5 with model_config, written with h5py")
def _keras_h5(out: Path) -> None:
    import h5py
    import numpy as np

    legacy = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 4, "activation": "relu"}}],
        },
    }
    with h5py.File(out, "w") as handle:
        handle.attrs["model_config"] = json.dumps(legacy)
        handle.attrs["training_config"] = json.dumps(
            {"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
        )
        handle.create_dataset("model_weights/d/kernel", data=np.ones((4, 4), dtype=np.float32))


# --- text and data files of a model repository -------------------------------------------------------
@benign("tokenizer_config", "tokenizer_config.json", "tokenizer_config.json with an ordinary chat template")
def _tokenizer_config(out: Path) -> None:
    out.write_text(
        json.dumps(
            {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "chat_template": _CHATML_TEMPLATE,
                "model_max_length": 2048,
            }
        )
    )


@benign("chat_template_jinja", "chat_template.jinja", "chat_template.jinja (Llama 3 style)")
def _chat_template(out: Path) -> None:
    out.write_text(_LLAMA3_TEMPLATE)


@benign("config_json", "config.json", "config.json without auto_map")
def _config(out: Path) -> None:
    out.write_text(
        json.dumps(
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "torch_dtype": "bfloat16"}, indent=2
        )
    )


@benign("tokenizer_json", "tokenizer.json", "a 3 MB tokenizer.json")
def _tokenizer_json(out: Path) -> None:
    vocab = {f"token{i}": i for i in range(120_000)}
    out.write_text(
        json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": ["a b"] * 1000}})
    )


@benign("vocab_txt", "vocab.txt", "BERT vocab.txt")
def _vocab(out: Path) -> None:
    out.write_text(
        "\n".join(
            [
                "[PAD]",
                "[UNK]",
                "[CLS]",
                "[SEP]",
                "[MASK]",
                "cat",
                "dog",
                "##s",
                *[f"w{i}" for i in range(3000)],
            ]
        )
    )


@benign("vocab_txt_c_start", "vocab_c.txt", "a word list starting with 'c' (looks like a pickle GLOBAL)")
def _vocab_c(out: Path) -> None:
    out.write_text("cat\ndog\nbird\n" + "\n".join(f"word{i}" for i in range(100)))


@benign("merges_txt", "merges.txt", "BPE merges")
def _merges(out: Path) -> None:
    out.write_text("#version: 0.2\nĠ t\nĠ a\nh e\n")


@benign("readme", "README.md", "model card")
def _readme(out: Path) -> None:
    out.write_text(
        "---\nlicense: apache-2.0\n---\n# Model\n\n```python\nimport torch\nmodel = torch.load('x')\n```\n"
    )


@benign("gitattributes", ".gitattributes", ".gitattributes")
def _gitattributes(out: Path) -> None:
    out.write_text(
        "*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    )


@benign("license", "LICENSE", "Apache licence text")
def _license(out: Path) -> None:
    out.write_text("Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n")


@benign("csv", "train.csv", "CSV data")
def _csv(out: Path) -> None:
    out.write_text("col1,col2\n1,2\n3,4\n")


@benign("jsonl", "data.jsonl", "JSON lines data")
def _jsonl(out: Path) -> None:
    out.write_text('{"text": "hello"}\n{"text": "world"}\n')


@benign("png", "image.png", "a PNG image")
def _png(out: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compress(b"\x00\xff\x00\x00" * 1)
    out.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@benign("parquet_like", "data.parquet", "a file framed like Parquet (PAR1 ... PAR1)")
def _parquet(out: Path) -> None:
    out.write_bytes(b"PAR1" + b"\x15\x00" * 20 + b"\x10\x00\x00\x00PAR1")


@benign("empty_file", "empty.txt", "an empty file")
def _empty(out: Path) -> None:
    out.write_bytes(b"")


def build_all(out_dir: Path) -> list[Sample]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, filename, _description, build in _BUILDERS:
        folder = out_dir / name
        folder.mkdir(exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the libraries' own deprecation notices are not under test
            build(folder / filename)
    return samples_in(out_dir)


def samples_in(out_dir: Path) -> list[Sample]:
    """The samples build_all made in `out_dir` (for a process that did not build them itself)."""
    return [
        Sample(name, out_dir / name / filename, description, name_hint=filename)
        for name, filename, description, _build in _BUILDERS
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    for sample in build_all(parser.parse_args().out):
        print(f"{sample.name}\t{sample.path}")
    sys.exit(0)
