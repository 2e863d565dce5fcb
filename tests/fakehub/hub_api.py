"""The Hub's JSON API: repo info, tree, paths-info, refs, auth-check, xet-read-token, whoami."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time

from aiohttp import web

from tests.fakehub import errors, payloads
from tests.fakehub.access import check_download, readable_repo
from tests.fakehub.context import HubRequest, parse_bool, resolve_revision
from tests.fakehub.routing import ApiCall

XET_TOKEN_LIFETIME_SECONDS = 3600


async def repo_info(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    ctx.require_method("GET", "HEAD")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    resolved, _ = resolve_revision(repo, ("/".join(call.rest),) if call.rest else (), keep=0)
    query = ctx.request.rel_url.query
    expand = tuple(query.getall("expand", ())) + tuple(query.getall("expand[]", ()))
    body = payloads.repo_info(
        repo,
        resolved.commit,
        expand=expand,
        blobs=ctx.flag("blobs"),
        security_status=ctx.flag("securityStatus"),
    )
    return await ctx.send_json(body)


async def tree(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    ctx.require_method("GET", "HEAD")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    resolved, tail = resolve_revision(repo, call.rest, keep=0)
    commit, directory = resolved.commit, "/".join(tail)
    if not commit.is_directory(directory):
        raise errors.entry_not_found(directory, commit=commit.sha)
    expand = ctx.flag("expand")
    paths = commit.walk(directory, recursive=ctx.flag("recursive"))
    start = _cursor_position(ctx.request.rel_url.query.get("cursor"), paths)
    page_size = ctx.hub.tree_expand_page_size if expand else ctx.hub.tree_page_size
    limit = ctx.request.rel_url.query.get("limit", "")
    if limit.isdigit() and int(limit) > 0:
        page_size = min(page_size, int(limit))
    page = paths[start : start + page_size]
    entries = [payloads.tree_entry(repo, commit, p, expand=expand, xet_hints=ctx.hub.xet_hints) for p in page]
    headers = {}
    if start + page_size < len(paths):
        headers["Link"] = f'<{_next_page_url(ctx, page[-1])}>; rel="next"'
    return await ctx.send_json(entries, headers=headers)


async def paths_info(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    ctx.require_method("POST")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    resolved, _ = resolve_revision(repo, call.rest, keep=0)
    requested, expand = await _paths_info_form(ctx.request)
    commit = resolved.commit
    found = [p for p in dict.fromkeys(requested) if p in commit.files or (p and commit.is_directory(p))]
    entries = [
        payloads.tree_entry(repo, commit, p, expand=expand, xet_hints=ctx.hub.xet_hints) for p in found
    ]
    return await ctx.send_json(entries)


async def refs(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    ctx.require_method("GET", "HEAD")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    return await ctx.send_json(payloads.refs(repo, include_pull_requests=ctx.flag("include_prs")))


async def auth_check(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    ctx.require_method("GET", "HEAD")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    if call.rest == ("write",):
        if ctx.caller.user is None or ctx.caller.user != repo.author:
            raise errors.HubError(403, "Forbidden", f"You don't have write access to {repo.repo_id}")
    elif call.rest:
        raise errors.route_not_found()
    else:
        check_download(repo, ctx.caller)
    return await ctx.send_json({"ok": True})


async def xet_read_token(ctx: HubRequest, call: ApiCall) -> web.StreamResponse:
    """What the client asks once it saw Xet hints. hubgate must never relay this to its users."""
    ctx.require_method("GET")
    repo = readable_repo(ctx.hub, ctx.caller, call.repo.repo_type, call.repo.repo_id)
    check_download(repo, ctx.caller)
    resolve_revision(repo, call.rest, keep=0)
    token = f"xet_fakehub_{secrets.token_hex(16)}"
    expires = int(time.time()) + XET_TOKEN_LIFETIME_SECONDS
    cas_url = f"{ctx.urls.cdn}/cas"
    headers = {"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(expires)}
    return await ctx.send_json({"accessToken": token, "exp": expires, "casUrl": cas_url}, headers=headers)


async def whoami(ctx: HubRequest) -> web.StreamResponse:
    ctx.require_method("GET")
    if ctx.caller.user is None:
        raise errors.HubError(401, "Unauthorized", "Invalid username or password.")
    return await ctx.send_json(payloads.whoami(ctx.caller.user))


def _cursor_position(cursor: str | None, paths: tuple[str, ...]) -> int:
    """Cursors carry the last path of the previous page, so a page continues after it (as on the Hub)."""
    if not cursor:
        return 0
    try:
        last = json.loads(base64.urlsafe_b64decode(cursor.encode()))["file_name"]
        return paths.index(last) + 1
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise errors.bad_request("Invalid cursor") from error


def _next_page_url(ctx: HubRequest, last_path: str) -> str:
    cursor = base64.urlsafe_b64encode(json.dumps({"file_name": last_path}).encode()).decode()
    # Absolute and on the Hub's own public host, like huggingface.co's Link headers: a mirror must rewrite it.
    return ctx.urls.hub + str(ctx.request.rel_url.update_query(cursor=cursor))


async def _paths_info_form(request: web.Request) -> tuple[list[str], bool]:
    if request.content_type == "application/json":
        body = await request.json()
        paths = body.get("paths", []) if isinstance(body, dict) else []
        return [str(p) for p in paths], parse_bool(str(body.get("expand", "")))
    form = await request.post()
    return [str(p) for p in form.getall("paths", [])], parse_bool(str(form.get("expand", "")))
