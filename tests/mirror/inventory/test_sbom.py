"""The CycloneDX 1.6 ML-BOM: valid against the schema, with purls, file hashes, licences, hubgate's facts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mirror.inventory.records import NOT_FETCHED, Ancestor, Card, Licence, Tally
from mirror.inventory.sbom import Links, SbomInvalid, build_sbom, validate
from tests.mirror.inventory.views import file_view, revision_view

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LINKS = Links(hubgate="https://hubgate.example.com/", upstream="https://huggingface.co")
IDENTITY = "0f1e2d3c4b5a6978"

QWEN = revision_view(
    "Qwen/Qwen2.5-7B-Instruct",
    commit=COMMIT,
    licences=(Licence("other", "qwen", "LICENSE"),),
    bucket="vendor",
    verdict="review",
    review_state="APPROVED",
    review_id=7,
    signature="verified",
    lineage=(Ancestor("Qwen/Qwen2.5-7B", (Licence("apache-2.0"),), "permissive"),),
    card=Card(
        pipeline_tag="text-generation",
        library_name="transformers",
        base_models=("Qwen/Qwen2.5-7B",),
        datasets=("HuggingFaceFW/fineweb",),
        languages=("en", "zh"),
    ),
    files=(
        file_view("model.safetensors", size=20, sha256="e" * 64, lfs=True, downloads=2, sent=40, review_id=3),
        file_view("config.json", size=5, sha256="c" * 64, downloads=1, sent=5, review_id=4),
        file_view("README.md", sha256=None, review_state=NOT_FETCHED, review_id=None),
    ),
    by_identity={"anonymous": Tally(2, 40), IDENTITY: Tally(1, 5)},
)
LLAMA = revision_view(
    "meta-llama/Llama-3.2-1B",
    licences=(Licence("llama3.2"),),
    bucket="vendor",
    files=(file_view("model.safetensors", sha256="f" * 64, lfs=True, review_state="QUARANTINED"),),
)
DATASET = revision_view("someone/corpus", repo_type="dataset", licences=(Licence("cc-by-4.0"),))
LEGACY = revision_view("gpt2", licences=(Licence("mit"),))


def _components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {component["bom-ref"]: component for component in document["components"]}


def _properties(component: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in component.get("properties", [])}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    text = build_sbom([QWEN, LLAMA, DATASET, LEGACY], links=LINKS, scope="inventory")
    # Validated inside build_sbom already; checked here again with the library's own validator.
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_the_document_is_cyclonedx_1_6_with_one_component_per_revision(document: dict[str, Any]) -> None:
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    assert set(_components(document)) == {
        f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}",
        f"models/meta-llama/Llama-3.2-1B@{'a' * 40}",
        f"datasets/someone/corpus@{'a' * 40}",
        f"models/gpt2@{'a' * 40}",
    }
    assert {"name": "hubgate:sbom:scope", "value": "inventory"} in document["metadata"]["properties"]
    assert document["metadata"]["tools"]["components"][0]["name"] == "hubgate"


def test_a_model_revision_is_a_machine_learning_model_with_its_purl(document: dict[str, Any]) -> None:
    qwen = _components(document)[f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"]
    assert qwen["type"] == "machine-learning-model"
    assert qwen["purl"] == f"pkg:huggingface/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"
    assert (qwen["group"], qwen["name"], qwen["version"]) == ("Qwen", "Qwen2.5-7B-Instruct", COMMIT)
    assert qwen["publisher"] == "Alibaba Cloud (Qwen team)"
    legacy = _components(document)[f"models/gpt2@{'a' * 40}"]
    assert legacy["purl"] == f"pkg:huggingface/gpt2@{'a' * 40}"


def test_files_are_nested_components_with_their_sha256(document: dict[str, Any]) -> None:
    qwen = _components(document)[f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"]
    files = {item["name"]: item for item in qwen["components"]}
    assert {name: item.get("hashes") for name, item in files.items()} == {
        "model.safetensors": [{"alg": "SHA-256", "content": "e" * 64}],
        "config.json": [{"alg": "SHA-256", "content": "c" * 64}],
        "README.md": None,  # never fetched: hubgate holds no digest of its bytes
    }
    assert all(item["type"] == "file" for item in files.values())
    weights = _properties(files["model.safetensors"])
    assert weights["hubgate:review:state"] == "APPROVED"
    assert weights["hubgate:review:id"] == "3"
    assert (weights["hubgate:downloads:count"], weights["hubgate:downloads:bytes"]) == ("2", "40")
    assert weights["hubgate:file:lfs"] == "true"
    assert _properties(files["README.md"])["hubgate:review:state"] == NOT_FETCHED


def test_licences_are_spdx_ids_only_when_they_are_spdx(document: dict[str, Any]) -> None:
    components = _components(document)
    qwen = components[f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"]
    assert qwen["licenses"] == [
        {
            "license": {
                "name": "qwen",
                "acknowledgement": "declared",
                "url": f"https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/{COMMIT}/LICENSE",
            }
        }
    ]
    llama = components[f"models/meta-llama/Llama-3.2-1B@{'a' * 40}"]
    assert llama["licenses"] == [{"license": {"name": "llama3.2", "acknowledgement": "declared"}}]
    legacy = components[f"models/gpt2@{'a' * 40}"]
    assert legacy["licenses"] == [{"license": {"id": "MIT", "acknowledgement": "declared"}}]
    [ancestor] = qwen["pedigree"]["ancestors"]
    assert ancestor["purl"] == "pkg:huggingface/Qwen/Qwen2.5-7B"
    assert ancestor["licenses"] == [{"license": {"id": "Apache-2.0", "acknowledgement": "declared"}}]
    assert _properties(ancestor) == {"hubgate:licence:bucket": "permissive"}


def test_origin_review_signature_and_downloads_are_properties(document: dict[str, Any]) -> None:
    qwen = _properties(_components(document)[f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"])
    assert {key: value for key, value in qwen.items() if key.startswith("hubgate:origin:")} == {
        "hubgate:origin:org": "Qwen",
        "hubgate:origin:organisation": "Alibaba Cloud (Qwen team)",
        "hubgate:origin:country": "CN",
        "hubgate:origin:family": "Qwen",
    }
    assert qwen["hubgate:licence:bucket"] == "vendor"
    assert qwen["hubgate:licence:verdict"] == "review"
    assert qwen["hubgate:licence:stated"] == "other (qwen)"
    assert (qwen["hubgate:review:state"], qwen["hubgate:review:id"]) == ("APPROVED", "7")
    assert qwen["hubgate:signature:status"] == "verified"
    assert (qwen["hubgate:downloads:count"], qwen["hubgate:downloads:bytes"]) == ("3", "45")
    assert qwen[f"hubgate:downloads:identity:{IDENTITY}"] == "1"
    assert qwen["hubgate:downloads:identity:anonymous"] == "2"
    assert qwen["hubgate:served:first"] == "2026-03-01T12:00:00+00:00"
    unknown = _properties(_components(document)[f"datasets/someone/corpus@{'a' * 40}"])
    assert unknown["hubgate:origin:country"] == "unknown"
    assert unknown["hubgate:signature:status"] == "unchecked"


def test_the_model_card_and_links(document: dict[str, Any]) -> None:
    components = _components(document)
    qwen = components[f"models/Qwen/Qwen2.5-7B-Instruct@{COMMIT}"]
    assert qwen["modelCard"] == {
        "modelParameters": {
            "task": "text-generation",
            "datasets": [{"type": "dataset", "name": "HuggingFaceFW/fineweb"}],
        },
        "properties": [
            {"name": "huggingface:library_name", "value": "transformers"},
            {"name": "huggingface:language", "value": "en"},
            {"name": "huggingface:language", "value": "zh"},
            {"name": "huggingface:base_model", "value": "Qwen/Qwen2.5-7B"},
        ],
    }
    references = {item["type"]: item["url"] for item in qwen["externalReferences"]}
    assert references == {
        "website": f"https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/tree/{COMMIT}",
        "model-card": f"https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/{COMMIT}/README.md",
        "attestation": "https://hubgate.example.com/api/hubgate/v1/attestations/model/"
        f"Qwen/Qwen2.5-7B-Instruct/{COMMIT}",
    }
    # A quarantined file: the revision is not approved, so there is no attestation to point to.
    llama = components[f"models/meta-llama/Llama-3.2-1B@{'a' * 40}"]
    assert "attestation" not in {item["type"] for item in llama["externalReferences"]}
    assert _properties(llama)["hubgate:approved"] == "false"
    dataset = components[f"datasets/someone/corpus@{'a' * 40}"]
    assert dataset["type"] == "data"
    assert "purl" not in dataset  # the huggingface purl type names models only
    assert "modelCard" not in dataset
    assert {item["url"] for item in dataset["externalReferences"]} >= {
        f"https://huggingface.co/datasets/someone/corpus/tree/{'a' * 40}"
    }


def test_an_empty_inventory_is_a_valid_document() -> None:
    document = json.loads(build_sbom([], links=LINKS, scope="inventory"))
    assert document.get("components", []) == []


def test_an_invalid_document_is_refused() -> None:
    with pytest.raises(SbomInvalid, match=r"CycloneDX 1\.6"):
        validate(
            json.dumps(
                {
                    "bomFormat": "CycloneDX",
                    "specVersion": "1.6",
                    "components": [
                        {"type": "machine-learning-model", "name": "x", "modelCard": {"bogus": 1}}
                    ],
                }
            )
        )
