"""`HEAD`/`GET /{prefix}{repo}/resolve/{revision}/{path}`: the file download endpoint.

Regular files are answered here (200/206 with the bytes, ETag = git blob sha1). Text ones go out
gzip-compressed to clients that accept it, with a weak ETag `W/"<git sha1>"` and no Content-Length, as
huggingface_hub issue #3269 records (see compression.py); HEAD and Range requests get identity answers.
LFS files get a 302 to
the CDN carrying the file's metadata (X-Linked-Etag = sha256, X-Linked-Size) and, unless turned off,
the Xet hints with which the real Hub steers `hf_xet` clients away from HTTP.
"""

from __future__ import annotations

import codecs

from aiohttp import web

from tests.fakehub import errors
from tests.fakehub.access import check_download, readable_repo
from tests.fakehub.bodies import RangeNotSatisfiable, send_bytes
from tests.fakehub.cdn import content_disposition, signed_url
from tests.fakehub.context import HubRequest, resolve_revision
from tests.fakehub.files import FakeFile
from tests.fakehub.routing import ResolveCall

_TEXT_SNIFF_BYTES = 4096


async def resolve(ctx: HubRequest, call: ResolveCall) -> web.StreamResponse:
    ctx.require_method("GET", "HEAD")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    check_download(repo, ctx.caller)
    resolved, tail = resolve_revision(repo, call.rest, keep=1)
    commit, path = resolved.commit, "/".join(tail)
    file = commit.files.get(path)
    if file is None:
        raise errors.entry_not_found(path, commit=commit.sha)
    base = {"X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes"}
    if file.lfs:
        return _redirect_to_cdn(ctx, call, file, base=base, commit=commit.sha)
    content_type = _content_type(file)
    headers = {
        **base,
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(path.rpartition("/")[2]),
    }
    # CloudFront compresses text/* but not application/octet-stream.
    compressible = ctx.hub.compress and content_type.startswith("text/")
    try:
        return await send_bytes(
            ctx.request,
            file.blob,
            headers=headers,
            effects=ctx.effects,
            etag=f'"{file.etag}"',
            coding=ctx.coding() if compressible else None,
            compressible=compressible,
        )
    except RangeNotSatisfiable as error:
        raise errors.HubError(
            416,
            "RangeNotSatisfiable",
            "Requested Range Not Satisfiable",
            headers={**base, "Content-Range": error.content_range},
        ) from error


def _redirect_to_cdn(
    ctx: HubRequest, call: ResolveCall, file: FakeFile, *, base: dict[str, str], commit: str
) -> web.Response:
    location = signed_url(ctx.hub, ctx.urls.cdn, file)
    headers = {
        **base,
        "Location": location,
        "ETag": f'"{file.sha256}"',
        "X-Linked-Etag": f'"{file.sha256}"',
        "X-Linked-Size": str(file.size),
    }
    if ctx.hub.xet_hints:
        token_route = f"/api/{call.repo.repo_type}s/{call.repo.repo_id}/xet-read-token/{commit}"
        headers["X-Xet-Hash"] = file.xet_hash
        headers["X-Xet-Refresh-Route"] = token_route
        headers["Link"] = (
            f'<{ctx.urls.hub}{token_route}>; rel="xet-auth", '
            f'<{ctx.urls.cdn}/v1/reconstructions/{file.xet_hash}>; rel="xet-reconstruction-info"'
        )
    return web.Response(status=302, text=f"Found. Redirecting to {location}", headers=headers)


def _content_type(file: FakeFile) -> str:
    try:
        # Incremental, so a character cut at the end of the sniffed bytes is not mistaken for binary.
        codecs.getincrementaldecoder("utf-8")().decode(file.blob.head(_TEXT_SNIFF_BYTES), final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"
