"""ONNX: walk the protobuf (graph, nested subgraphs, functions, training graphs) for external-data
references, whose ``location`` is a path ONNX Runtime opens next to the model (CVE-2022-25882,
CVE-2024-27318 path traversal), and for custom operator domains. Tensor bytes are skipped, not read."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .blobs import Blob
from .limits import LimitExceeded, MalformedInput
from .protobuf_wire import LEN, Cursor, Field
from .rules import ONNX_CUSTOM_DOMAIN, ONNX_EXTERNAL_DATA, ONNX_EXTERNAL_TRAVERSAL

if TYPE_CHECKING:
    from .context import ScanContext

# ModelProto field numbers
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 8, 20, 25
_MODEL_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26}
# GraphProto / NodeProto / AttributeProto / TensorProto / SparseTensorProto
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTRIBUTE, _NODE_DOMAIN, _NODE_OP = 5, 7, 4
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_EXTERNAL, _TENSOR_NAME = 13, 8
EXTERNAL_DATA_KEY = "onnx_external_data"  # the ScanReport.metadata key, see scanners.external_data
_MAX_REFERENCES = 1_000_000
_FUNCTION_NODE = 7
_TRAINING_GRAPHS = (1, 2)
_STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft",
     "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc", "org.pytorch.aten",
     "com.microsoft.dml", "ai.onnx.contrib"}
)  # fmt: skip
_DRIVE = re.compile(r"^[A-Za-z]:")


class OnnxScanner:
    name = "onnx"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        walker = _Walker(blob, ctx)
        for field in walker.cursor.fields(0, blob.size):
            if field.number not in _MODEL_FIELDS:
                raise MalformedInput(f"not an ONNX model: unexpected field {field.number}")
            if field.wire_type != LEN:
                continue
            if field.number == _MODEL_GRAPH:
                walker.graph(field, depth=0)
            elif field.number == _MODEL_FUNCTIONS:
                walker.nodes_of(field, _FUNCTION_NODE, depth=0)
            elif field.number == _MODEL_TRAINING:
                for sub in walker.cursor.fields(field.offset, field.offset + field.value):
                    if sub.number in _TRAINING_GRAPHS and sub.wire_type == LEN:
                        walker.graph(sub, depth=1)
        return None


class _Walker:
    def __init__(self, blob: Blob, ctx: ScanContext) -> None:
        self.blob = blob
        self.ctx = ctx
        self.cursor = Cursor(blob, max_fields=ctx.limits.max_proto_messages)
        self.reported_domains: set[str] = set()
        self.reported_locations: set[str] = set()

    def _deeper(self, depth: int) -> int:
        if depth > self.ctx.limits.max_proto_depth:
            raise LimitExceeded("max_proto_depth", "ONNX subgraphs nest too deeply")
        self.ctx.deadline.check()
        return depth + 1

    def graph(self, graph: Field, *, depth: int) -> None:
        depth = self._deeper(depth)
        for field in self.cursor.fields(graph.offset, graph.offset + graph.value):
            if field.wire_type != LEN:
                continue
            if field.number == _GRAPH_NODE:
                self.node(field, depth=depth)
            elif field.number == _GRAPH_INITIALIZER:
                self.tensor(field)
            elif field.number == _GRAPH_SPARSE:
                self.sparse_tensor(field)

    def nodes_of(self, message: Field, node_field: int, *, depth: int) -> None:
        depth = self._deeper(depth)
        for field in self.cursor.fields(message.offset, message.offset + message.value):
            if field.number == node_field and field.wire_type == LEN:
                self.node(field, depth=depth)

    def node(self, node: Field, *, depth: int) -> None:
        for field in self.cursor.fields(node.offset, node.offset + node.value):
            if field.wire_type != LEN:
                continue
            if field.number == _NODE_DOMAIN:
                self._domain(self.cursor.string(field))
            elif field.number == _NODE_ATTRIBUTE:
                self.attribute(field, depth=depth)

    def attribute(self, attribute: Field, *, depth: int) -> None:
        for field in self.cursor.fields(attribute.offset, attribute.offset + attribute.value):
            if field.wire_type != LEN:
                continue
            if field.number in (_ATTR_T, _ATTR_TENSORS):
                self.tensor(field)
            elif field.number in (_ATTR_SPARSE, _ATTR_SPARSES):
                self.sparse_tensor(field)
            elif field.number in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(field, depth=depth)

    def sparse_tensor(self, sparse: Field) -> None:
        for field in self.cursor.fields(sparse.offset, sparse.offset + sparse.value):
            if field.number in (1, 2) and field.wire_type == LEN:
                self.tensor(field)

    def tensor(self, tensor: Field) -> None:
        name = ""
        locations: list[str] = []
        entries: dict[str, str] = {}
        for field in self.cursor.fields(tensor.offset, tensor.offset + tensor.value):
            if field.number == _TENSOR_NAME and field.wire_type == LEN:
                name = self.cursor.string(field, limit=512)
            elif field.number == _TENSOR_EXTERNAL and field.wire_type == LEN:
                key, value = self._entry(field)
                if key == "location":
                    locations.append(value)
                else:
                    entries[key] = value
        for location in locations:
            self._external(location, name)
            self._record_reference(location, name, entries)

    def _record_reference(self, location: str, tensor: str, entries: dict[str, str]) -> None:
        """What the caller needs to judge the data file for what it is (ScanReport.metadata)."""
        if self.ctx.depth != 1:
            return  # locations are relative to the scanned model file, not to a member inside it
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else None
        except ValueError:
            self.ctx.error(f"{self.blob.label}#{tensor}", "external data offset or length is not a number")
            return
        if offset < 0 or (length is not None and length < 0):
            self.ctx.error(f"{self.blob.label}#{tensor}", "external data offset or length is negative")
            return
        references = self.ctx.metadata.setdefault(EXTERNAL_DATA_KEY, [])
        if len(references) < _MAX_REFERENCES:
            references.append({"location": location, "tensor": tensor, "offset": offset, "length": length})

    def _entry(self, entry: Field) -> tuple[str, str]:
        key = value = ""
        for field in self.cursor.fields(entry.offset, entry.offset + entry.value):
            if field.wire_type == LEN and field.number == 1:
                key = self.cursor.string(field, limit=256)
            elif field.wire_type == LEN and field.number == 2:
                value = self.cursor.string(field, limit=4096)
        return key, value

    def _external(self, location: str, tensor: str) -> None:
        parts = re.split(r"[\\/]", location)
        where = f"{self.blob.label}#{tensor}"
        if (
            location.startswith(("/", "\\", "~"))
            or _DRIVE.match(location)
            or ".." in parts
            or "\x00" in location
        ):
            self.ctx.add(
                ONNX_EXTERNAL_TRAVERSAL.finding(
                    "external data location is absolute or climbs out of the model folder",
                    location=where,
                    evidence=location,
                )
            )
        elif location not in self.reported_locations:
            self.reported_locations.add(location)
            self.ctx.add(
                ONNX_EXTERNAL_DATA.finding(
                    "tensor data lives in another file", location=where, evidence=location
                )
            )

    def _domain(self, domain: str) -> None:
        if domain not in _STANDARD_DOMAINS and domain not in self.reported_domains:
            self.reported_domains.add(domain)
            self.ctx.add(
                ONNX_CUSTOM_DOMAIN.finding(
                    "operators from a custom domain need a native library",
                    location=self.blob.label,
                    evidence=domain,
                )
            )
