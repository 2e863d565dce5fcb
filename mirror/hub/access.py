"""Who may read a private or gated repository's stored files.

A stored file of a restricted repository is served only to a caller whose token upstream accepts for
that repository. Upstream's yes is remembered briefly, keyed by a hash of the token (never the token);
a no is not remembered, so a user who has just accepted a gate's terms gets in at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from mirror.errors import MirrorError, UpstreamRateLimited, UpstreamTimeout, UpstreamUnavailable
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef

_MAX_REMEMBERED = 50_000


class AccessChecker:
    def __init__(self, *, hub: HubClient, ttl_s: float) -> None:
        self._hub = hub
        self._ttl = ttl_s
        self._granted: OrderedDict[tuple[RepoRef, str], float] = OrderedDict()

    async def require(self, repo: RepoRef, credentials: Credentials) -> None:
        """Return if `credentials` may read `repo`; raise the upstream's coded refusal otherwise.

        An anonymous caller carried upstream by the service token is judged as anonymous unless the
        service token's access is extended to anonymous callers (Credentials.for_access_checks).
        """
        credentials = credentials.for_access_checks()
        key = (repo, credentials.identity)
        granted_at = self._granted.get(key)
        now = time.monotonic()
        if granted_at is not None and now - granted_at < self._ttl:
            return
        path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}/auth-check"
        try:
            await self._hub.get_json(path, credentials=credentials)
        except UpstreamRateLimited:
            raise
        except (UpstreamUnavailable, UpstreamTimeout) as exc:
            msg = f"{repo} is private or gated and upstream cannot confirm your access now ({exc.message})"
            raise UpstreamUnavailable(msg) from exc
        except MirrorError:
            self._granted.pop(key, None)
            raise
        self._granted[key] = now
        self._granted.move_to_end(key)
        while len(self._granted) > _MAX_REMEMBERED:
            self._granted.popitem(last=False)
