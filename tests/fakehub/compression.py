"""What the CDN in front of huggingface.co does to bodies: `Content-Encoding` negotiation and streaming.

huggingface.co sits behind CloudFront, which compresses JSON and text answers for clients whose
`Accept-Encoding` allows it. huggingface_hub issue #3269 records such an answer for a resolved `.py`
file: `Content-Encoding: gzip`, `Vary: Origin,accept-encoding`, a weak `ETag: W/"<git sha1>"`,
`Transfer-Encoding: chunked` and no Content-Length. huggingface_hub PR #1449 made the client send
`Accept-Encoding: identity` on HEAD for exactly this reason: the Hub compresses, and the client needs the
real size.

What the fake does (on the Hub host only; the CDN host serves LFS objects as `application/octet-stream`,
which CloudFront never compresses):
- `negotiate` reads `Accept-Encoding` as RFC 9110 section 12.5.3 says (q-values, `q=0` refusals, `*`,
  `identity`). No header means identity, as CloudFront only compresses when the viewer asks for it.
- gzip is preferred; `deflate` (the zlib format, RFC 9110 section 8.4.1.2) is used when the client
  accepts it with a higher q-value than gzip, or when it is the only coding accepted. CloudFront itself
  speaks gzip and br only; the fake also serves deflate so a proxy that advertises it meets it. br and
  zstd are never chosen (no encoder in the standard library): a client accepting only those gets identity.
- HEAD, and any request with a `Range` header, get identity answers with the real Content-Length: the
  CDN does not compress partial content. (The client's `http_get` also copes with a CDN that ignores the
  Range of a gzip-accepting request and answers 200; the fake does not model that.)
- CloudFront compresses only bodies of 1,000 to 10,000,000 bytes; the fake compresses every eligible
  body whatever its size, so even a two-byte JSON error reaches a proxy gzipped (harsher than the Hub).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Literal

Coding = Literal["gzip", "deflate"]

# As in the recorded answer (huggingface_hub issue #3269 shows `Origin,accept-encoding`; header values
# compare case-insensitively and the list separator may carry spaces).
VARY = "Origin, Accept-Encoding"
COMPRESSION_LEVEL = 6
_WBITS: dict[Coding, int] = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_SUPPORTED: tuple[Coding, ...] = ("gzip", "deflate")


def parse_accept_encoding(header: str | None) -> dict[str, float]:
    """`coding -> q` (lower-cased codings; `x-gzip` counts as gzip). Malformed q-values count as 0."""
    weights: dict[str, float] = {}
    if not header:
        return weights
    for item in header.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        coding = name.lower()
        weights["gzip" if coding == "x-gzip" else coding] = max(0.0, min(1.0, q))
    return weights


def choose_coding(header: str | None) -> Coding | None:
    """The content coding to answer with for this `Accept-Encoding`, or None for identity."""
    weights = parse_accept_encoding(header)
    wildcard = weights.get("*", 0.0)

    def weight(coding: Coding) -> float:
        return weights.get(coding, wildcard)

    best = max(_SUPPORTED, key=weight)  # ties keep the first: gzip
    return best if weight(best) > 0 else None


def negotiate(method: str, headers: Mapping[str, str], *, enabled: bool) -> Coding | None:
    """The coding for an answer whose body is compressible; None when it must go out as identity.

    `headers` must look names up case-insensitively (aiohttp's request headers do)."""
    if not enabled or method == "HEAD" or headers.get("Range") is not None:
        return None
    return choose_coding(headers.get("Accept-Encoding"))


def weak_etag(etag: str) -> str:
    """CloudFront weakens a strong ETag when it compresses the body (the bytes differ from the origin's)."""
    return etag if etag.startswith("W/") else f"W/{etag}"


class Encoder:
    """Streams one body through zlib: feed decoded chunks, get encoded ones; `finish` flushes the trailer."""

    def __init__(self, coding: Coding, *, level: int = COMPRESSION_LEVEL) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, _WBITS[coding])

    def feed(self, chunk: bytes) -> bytes:
        return self._compressor.compress(chunk)

    def finish(self) -> bytes:
        return self._compressor.flush(zlib.Z_FINISH)


def compress(data: bytes, coding: Coding) -> bytes:
    encoder = Encoder(coding)
    return encoder.feed(data) + encoder.finish()


BOMB_CHUNK = 1 << 20
_SPACES = b" " * BOMB_CHUNK


def gzip_bomb(decoded_bytes: int, prefix: bytes = b"") -> Iterator[bytes]:
    """Encoded chunks of a gzip stream that decodes to `prefix` then spaces, `decoded_bytes` in all.

    Never holds more than one 1 MiB chunk of the decoded bytes: the spaces are one shared buffer fed to
    the compressor again and again (deflate shrinks them about 1000:1).
    """
    if decoded_bytes < len(prefix):
        raise ValueError(f"decoded_bytes {decoded_bytes} is smaller than the {len(prefix)}-byte prefix")
    encoder = Encoder("gzip", level=9)
    if prefix and (head := encoder.feed(prefix)):
        yield head
    remaining = decoded_bytes - len(prefix)
    while remaining > 0:
        length = min(BOMB_CHUNK, remaining)
        encoded = encoder.feed(_SPACES if length == BOMB_CHUNK else _SPACES[:length])
        remaining -= length
        if encoded:
            yield encoded
    yield encoder.finish()
