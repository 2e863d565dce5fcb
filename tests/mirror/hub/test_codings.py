"""Decoding upstream bodies: what the Hub's CDN sends is decoded, and a bomb is refused early."""

from __future__ import annotations

import gzip
import zlib

import pytest

from mirror.errors import UpstreamProtocolError
from mirror.hub.codings import BodyDecoder


def _gzip_stream(total: int, *, chunk: int = 1 << 20) -> list[bytes]:
    """A gzip member of `total` spaces, compressed piecewise (never the whole plain text in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    block = b" " * chunk
    for _ in range(total // chunk):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return [part for part in parts if part]


def _decode_all(decoder: BodyDecoder, chunks: list[bytes], *, piece: int = 4096) -> bytes:
    out = []
    for chunk in chunks:
        for start in range(0, len(chunk), piece):
            out.append(decoder.decode(chunk[start : start + piece]))
    out.append(decoder.finish())
    return b"".join(out)


def test_identity_passes_bytes_through_unchanged() -> None:
    decoder = BodyDecoder(None, limit=10, what="answer")
    assert decoder.identity
    assert decoder.decode(b"0123456789") == b"0123456789"
    assert decoder.finish() == b""


def test_gzip_json_is_decoded_across_chunk_boundaries() -> None:
    body = b'{"id": "Qwen/Qwen2.5-0.5B", "siblings": [' + b'{"rfilename": "x"},' * 1000 + b"{}]}"
    decoder = BodyDecoder("gzip", limit=1 << 20, what="answer")
    assert _decode_all(decoder, [gzip.compress(body)], piece=7) == body


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib-wrapped", "raw"])
def test_deflate_is_decoded_whether_wrapped_or_raw(wbits: int) -> None:
    body = b"tokenizer text " * 500
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    encoded = compressor.compress(body) + compressor.flush()
    assert _decode_all(BodyDecoder("deflate", limit=1 << 20, what="answer"), [encoded], piece=1) == body


def test_stacked_codings_are_undone_in_reverse_order() -> None:
    body = b"x" * 10_000
    assert (
        _decode_all(BodyDecoder("gzip, gzip", limit=20_000, what="a"), [gzip.compress(gzip.compress(body))])
        == body
    )


def test_a_gzip_bomb_is_refused_without_inflating_past_the_limit() -> None:
    # ~1 MiB on the wire that inflates to 1 GiB: refused once 1 MiB + 1 byte would have been produced.
    limit = 1 << 20
    decoder = BodyDecoder("gzip", limit=limit, what="JSON answer")
    produced = 0
    refused = None
    for chunk in _gzip_stream(1 << 30, chunk=8 << 20):
        try:
            produced += len(decoder.decode(chunk))
        except UpstreamProtocolError as exc:
            refused = exc
            break
        # Never more than the limit (+1 to notice) comes out of the decoder.
        assert produced <= limit + 1
    assert refused is not None
    assert "decodes to more than 1048576 bytes" in refused.message


def test_a_truncated_compressed_body_is_an_error_not_a_shorter_file() -> None:
    encoded = gzip.compress(b"print('hello')\n" * 100)
    decoder = BodyDecoder("gzip", limit=1 << 20, what="download of x.py")
    decoder.decode(encoded[: len(encoded) // 2])
    with pytest.raises(UpstreamProtocolError, match="ended before its end marker"):
        decoder.finish()


def test_garbage_under_a_gzip_label_is_an_error() -> None:
    with pytest.raises(UpstreamProtocolError, match="does not decode"):
        BodyDecoder("gzip", limit=100, what="answer").decode(b"this is not gzip at all")


def test_a_coding_hubgate_never_asked_for_is_refused() -> None:
    with pytest.raises(UpstreamProtocolError, match="did not ask for: 'br'"):
        BodyDecoder("br", limit=100, what="answer")
