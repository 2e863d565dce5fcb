"""DSSE (Dead Simple Signing Envelope) pre-authentication encoding.

Spec: https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md. The signature is made over
PAE(type, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload, lengths as ASCII decimal byte
counts. Verification always uses the payload bytes exactly as carried in the envelope (never re-serialised).
"""

from __future__ import annotations

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of `payload` with `payload_type`."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def pae_legacy(payload_type: str, payload: bytes) -> bytes:
    """The encoding that model_signing before 1.0 signed by mistake (kept for its old signatures).

    It formatted the payload's Python `bytes` repr into a text string ("DSSEV1 ... b'{...}'"); see
    model_signing 1.1.1 `_signing/sign_sigstore_pb.py::pae_compat`. The repr is injective, so accepting a
    signature over it does not let anyone forge a different payload.
    """
    type_len = len(payload_type.encode("utf-8"))
    return f"DSSEV1 {type_len} {payload_type} {len(payload)} {payload!r}".encode()
