"""The OpenAPI 3.1 document of hubgate's own API (/api/hubgate/v1)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}


def _op(
    summary: str, role: str, *, body: str | None = None, ok: str = "200", params: list[Any] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs a token with the {role} role (or higher).",
        "security": [{"bearer": []}],
        "parameters": params or [],
        "responses": {
            ok: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": _ERROR,
            "401": _ERROR,
            "403": _ERROR,
            "404": _ERROR,
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": body}}},
        }
    return operation


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_REVIEW_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _sbom_op(summary: str) -> dict[str, Any]:
    operation = _op(summary, "viewer")
    operation["responses"]["200"] = {
        "description": "A CycloneDX 1.6 JSON document, validated against the schema",
        "content": {"application/vnd.cyclonedx+json": {"schema": {"type": "object"}}},
    }
    return operation


_PERIODS = ("month", "week")
_REPORT_FORMAT = _query("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]})
_REPORT_BY = _query(
    "by",
    "origins: publisher (default: who published a revision) or lineage (what it is built on: its lineage "
    "roots' country and family)",
    {"type": "string", "enum": ["publisher", "lineage"]},
)
_DECISION = {
    "post": {
        **_op(
            "Approve (waive), block, revoke or reopen",
            "approver (reopen: admin)",
            body="#/components/schemas/Decision",
        ),
        "responses": {
            "200": {"description": "The updated review"},
            "400": _ERROR,
            "401": _ERROR,
            "403": _ERROR,
            "404": _ERROR,
            "409": _ERROR,
        },
    },
    "parameters": [_REVIEW_ID],
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "hubgate review API",
        "version": "1",
        "description": "Reviews of quarantined artifacts, decisions, audit trail, downloads, prefetch.",
    },
    "servers": [{"url": "/api/hubgate/v1"}],
    "paths": {
        "/whoami": {"get": _op("The token's name and role", "viewer")},
        "/reviews": {
            "get": _op(
                "List reviews (paginated by id)",
                "viewer",
                params=[
                    _query(
                        "state",
                        "PENDING, APPROVED, QUARANTINED, BLOCKED or REVOKED; several comma-separated "
                        "(e.g. QUARANTINED,PENDING) match any of them",
                        {"type": "string"},
                    ),
                    _query(
                        "repo", "org/name (optionally models/, datasets/, spaces/ first)", {"type": "string"}
                    ),
                    _query("severity", "critical, high, medium, low or info", {"type": "string"}),
                    _query("after", "the last id of the previous page", {"type": "integer", "minimum": 0}),
                    _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 500}),
                ],
            )
        },
        "/reviews/{id}": {
            "get": {
                **_op("One review with its reports, findings, downloads and audit events", "viewer"),
                "responses": {
                    "200": {
                        "description": "The review",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Review"}}},
                    },
                    "401": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                },
            },
            "parameters": [_REVIEW_ID],
        },
        "/reviews/{id}/request": {
            "post": _op(
                "Ask for a review, with a justification", "requester", body="#/components/schemas/Request"
            ),
            "parameters": [_REVIEW_ID],
        },
        "/reviews/{id}/approve": _DECISION,
        "/reviews/{id}/block": _DECISION,
        "/reviews/{id}/revoke": _DECISION,
        "/reviews/{id}/reopen": _DECISION,
        "/reviews/{id}/rescan": {
            "post": _op(
                "Scan and decide again under the current rules",
                "approver",
                body="#/components/schemas/Rescan",
            ),
            "parameters": [_REVIEW_ID],
        },
        "/audit": {
            "get": _op(
                "The hash-chained audit trail",
                "viewer",
                params=[
                    _query("after", "the last id already read", {"type": "integer", "minimum": 0}),
                    _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 5000}),
                    _query("review_id", "only events of this review", {"type": "integer", "minimum": 1}),
                ],
            )
        },
        "/audit/verify": {
            "get": _op("Check the whole audit chain and every signed checkpoint (409 when broken)", "viewer")
        },
        "/audit/checkpoints": {
            "post": _op("Sign and export a checkpoint of the audit chain's head now", "admin")
        },
        "/blobs/{sha256}/downloads": {
            "get": _op("Who downloaded this blob, when, in which state", "viewer"),
            "parameters": [
                {
                    "name": "sha256",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                }
            ],
        },
        "/prefetch": {
            "post": _op(
                "Fetch, verify and scan a revision ahead of users",
                "requester",
                body="#/components/schemas/Prefetch",
                ok="202",
            )
        },
        "/prefetch/{job}": {
            "get": _op("Progress and result of a prefetch job", "viewer"),
            "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}],
        },
        "/inventory": {
            "get": _op(
                "Every revision hubgate served: origin, licence as the gate resolved it, base_model "
                "lineage, signature, reviews, files with sha256, first/last served, downloads per identity",
                "viewer",
            )
        },
        "/inventory/sbom": {"get": _sbom_op("CycloneDX 1.6 ML-BOM of the whole inventory")},
        "/inventory/{repo_type}/{org}/{name}/{commit}/sbom": {
            "get": _sbom_op("CycloneDX 1.6 ML-BOM of one served revision (404: never served)"),
            "parameters": [
                _path("repo_type", {"type": "string", "enum": ["model", "dataset", "space"]}),
                _path("org", {"type": "string"}),
                _path("name", {"type": "string"}),
                _path("commit", {"type": "string", "pattern": "^[0-9a-f]{40}$"}),
            ],
        },
        "/inventory/{repo_type}/{org}/{name}/{commit}": {
            "get": _op(
                "The gate's view of one revision, served or only judged (a prefetch, a refused licence): "
                "origin, and origins over its base_model lineage (each repository's country, family, entity "
                "lists, path and relation; where the lineage stops and why; verdict and findings), licence "
                "and its verdict, signature, the revision review and its sign-off (who approved, why, when, "
                "which rules), every known file's sha256 and review state, and the version revisions are "
                "decided under now. 404 RevisionNotJudged: hubgate never judged it. What `hubgate check` "
                "reads",
                "viewer",
            ),
            "parameters": [
                _path("repo_type", {"type": "string", "enum": ["model", "dataset", "space"]}),
                _path("org", {"type": "string"}),
                _path("name", {"type": "string"}),
                _path("commit", {"type": "string", "pattern": "^[0-9a-f]{40}$"}),
            ],
        },
        "/reports/origins": {
            "get": _op(
                "Served revisions, files, downloads, bytes and users by country and publisher (with licence "
                "buckets), or with by=lineage by the country and family of what they are built on",
                "viewer",
                params=[_REPORT_FORMAT, _REPORT_BY],
            )
        },
        "/attestation-key": {
            "get": {
                "summary": "hubgate's attestation public key (PEM)",
                "description": "Public: verifiers need no token. Also at "
                "/.well-known/hubgate/attestation-key.pem. X-Key-Fingerprint is the OMS key hint.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "PEM public key",
                        "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/attestations/{repo_type}/{org}/{name}/{revision}": {
            "get": {
                **_op(
                    "hubgate's OpenSSF model signature over exactly the approved files of a revision "
                    "(kind=review: the signed review statement instead); 409 unless every file passed review",
                    "viewer",
                    params=[
                        _query(
                            "kind",
                            "model-signature (default) or review",
                            {"type": "string", "enum": ["model-signature", "review"]},
                        )
                    ],
                ),
            },
            "parameters": [
                _path("repo_type", {"type": "string", "enum": ["model", "dataset", "space"]}),
                _path("org", {"type": "string"}),
                _path("name", {"type": "string"}),
                _path("revision", {"type": "string"}),
            ],
        },
        "/reports/licences": {
            "get": _op(
                "Served revisions, files, downloads and bytes by licence bucket and stated licence",
                "viewer",
                params=[_REPORT_FORMAT],
            )
        },
        "/reports/timeline": {
            "get": _op(
                "Served downloads, bytes, revisions and identities per UTC month or ISO week (the last "
                "`count` periods up to now, empty ones included), in all (`totals`) and by origin country "
                "(`by_country`) and country and family (`by_family`): one array per figure, aligned with "
                "`periods`; `total` per group over the window",
                "viewer",
                params=[
                    _query(
                        "by",
                        "lineage (default): the country and family of the roots of each revision's "
                        "base_model lineage (what it is built on; a revision counts under each of its "
                        "roots); publisher: the publisher of the revision's own repository",
                        {"type": "string", "enum": ["lineage", "publisher"]},
                    ),
                    _query("period", "month (default) or week", {"type": "string", "enum": list(_PERIODS)}),
                    _query(
                        "count",
                        "how many periods, up to and including the current one (default 12 months, 26 weeks)",
                        {"type": "integer", "minimum": 1, "maximum": 120},
                    ),
                ],
            )
        },
        "/reports/continuity": {
            "get": _op(
                "What the company depends on that the Hub no longer serves: served revisions of repositories "
                "the Hub answered as removed or gated since, by state and by repository",
                "viewer",
                params=[_REPORT_FORMAT],
            )
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "hgt_... token"}},
        "responses": {
            "Error": {
                "description": "A coded error (X-Error-Code and X-Error-Message headers)",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
                    }
                },
            }
        },
        "schemas": {
            "Decision": {
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string", "minLength": 1},
                    "expires_at": {"type": "string", "format": "date-time", "description": "approve only"},
                    "expires_in_s": {"type": "number", "exclusiveMinimum": 0, "description": "approve only"},
                },
            },
            "Request": {
                "type": "object",
                "required": ["justification"],
                "properties": {"justification": {"type": "string", "minLength": 1}},
            },
            "Rescan": {"type": "object", "properties": {"reason": {"type": "string"}}},
            "Review": {
                "type": "object",
                "description": "Also: subject, repo, commit, path, size, severity, reasons, versions, "
                "waiver, request, reports and downloads (blobs), attempts and audit.",
                "properties": {
                    "id": {"type": "integer"},
                    "state": {"type": "string"},
                    "actions": {
                        "type": "array",
                        "description": "The POST /reviews/{id}/... endpoints the caller's role may use in "
                        "the current state (four-eyes is checked only when deciding)",
                        "items": {
                            "type": "string",
                            "enum": ["approve", "block", "revoke", "reopen", "rescan", "request"],
                        },
                    },
                    "attempts": {
                        "type": "object",
                        "description": "Refused attempts: HEAD and GET requests answered 403 because of this "
                        "review, aggregated per UTC day: `count`, `identity_count`, `unnamed` (attempts past "
                        "the bound on identities per review and day, counted but naming nobody), `first_at`, "
                        "`last_at`, `by_identity` (most attempts first: count, first/last, clients, whether "
                        "some were `folded`) and the `latest` rows (identity, client, method, repo, commit, "
                        "path, the review's state then, count, first_at, last_at, folded)",
                    },
                    "upstream_state": {
                        "type": "string",
                        "description": "Whether the Hub still serves the review's repository: present, "
                        "`removed since DATE` or `gated since DATE` (details in `upstream`: state, since, "
                        "the Hub's words)",
                    },
                    "licence_review": {
                        "description": "Blobs: the licence review of the commit the blob was first seen in; "
                        "null when that licence needed no review",
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "state": {"type": "string"},
                                    "reasons": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        ],
                    },
                },
            },
            "Prefetch": {
                "type": "object",
                "required": ["repo"],
                "properties": {
                    "repo": {"type": "string"},
                    "repo_type": {"type": "string", "enum": ["model", "dataset", "space"]},
                    "revision": {"type": "string"},
                    "include": {"type": "array", "items": {"type": "string"}},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                    "hf_token": {"type": "string", "description": "a Hub token for gated or private repos"},
                },
            },
        },
    },
}
