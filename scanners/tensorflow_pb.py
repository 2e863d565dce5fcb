"""TensorFlow SavedModel / GraphDef protobufs: operations that read or write files or call back into
Python (ReadFile, WriteFile, PyFunc ...) run when the graph is loaded and executed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Severity
from .blobs import Blob
from .limits import LimitExceeded
from .protobuf_wire import LEN, Cursor, Field
from .rules import TF_UNSAFE_OP

if TYPE_CHECKING:
    from .context import ScanContext

_UNSAFE_OPS = {
    "ReadFile": Severity.HIGH, "WriteFile": Severity.HIGH, "MatchingFiles": Severity.HIGH,
    "DeleteFile": Severity.HIGH, "ImmutableConst": Severity.HIGH, "PyFunc": Severity.CRITICAL,
    "PyFuncStateless": Severity.CRITICAL, "EagerPyFunc": Severity.CRITICAL,
}  # fmt: skip
_SAVED_MODEL_META_GRAPHS, _META_GRAPH_DEF, _GRAPH_NODE, _GRAPH_LIBRARY = 2, 2, 1, 2
_LIBRARY_FUNCTION, _FUNCTION_NODE_DEF, _NODE_OP = 1, 3, 2


class TensorflowProtobufScanner:
    name = "tensorflow"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        cursor = Cursor(blob, max_fields=ctx.limits.max_proto_messages)
        top = [f for f in cursor.fields(0, blob.size) if f.wire_type == LEN]
        saved_model = any(f.number == _SAVED_MODEL_META_GRAPHS for f in top) and not any(
            f.number == _GRAPH_NODE for f in top
        )
        if saved_model:
            for meta in (f for f in top if f.number == _SAVED_MODEL_META_GRAPHS):
                for graph in _children(cursor, meta, _META_GRAPH_DEF):
                    _graph(cursor, graph, blob, ctx, depth=0)
        else:
            _graph(cursor, Field(0, LEN, blob.size, 0), blob, ctx, depth=0)
        return "tensorflow-savedmodel" if saved_model else "tensorflow-graphdef"


def _children(cursor: Cursor, message: Field, number: int) -> list[Field]:
    return [
        f
        for f in cursor.fields(message.offset, message.offset + message.value)
        if f.number == number and f.wire_type == LEN
    ]


def _graph(cursor: Cursor, graph: Field, blob: Blob, ctx: ScanContext, *, depth: int) -> None:
    if depth > ctx.limits.max_proto_depth:
        raise LimitExceeded("max_proto_depth", "TensorFlow function library nests too deeply")
    for node in _children(cursor, graph, _GRAPH_NODE):
        _node(cursor, node, blob, ctx)
    for library in _children(cursor, graph, _GRAPH_LIBRARY):
        for function in _children(cursor, library, _LIBRARY_FUNCTION):
            for node in _children(cursor, function, _FUNCTION_NODE_DEF):
                _node(cursor, node, blob, ctx)


def _node(cursor: Cursor, node: Field, blob: Blob, ctx: ScanContext) -> None:
    for op_field in _children(cursor, node, _NODE_OP):
        op = cursor.string(op_field, limit=256)
        severity = _UNSAFE_OPS.get(op)
        if severity is not None:
            ctx.add(
                TF_UNSAFE_OP.finding(f"graph uses {op}", location=blob.label, evidence=op, severity=severity)
            )
