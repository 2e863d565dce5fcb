from __future__ import annotations

import pytest

from mirror.errors import InvalidPath, InvalidRepoId, InvalidRevision, NotFound
from mirror.http.routes import MethodNotAllowed, Route, match
from mirror.hub.models import RepoType


@pytest.mark.parametrize(
    ("method", "path", "route", "repo_type", "repo_id", "revision", "file_path"),
    [
        ("GET", "/api/models/org/name", Route.REPO_INFO, RepoType.MODEL, "org/name", None, ""),
        ("GET", "/api/models/gpt2", Route.REPO_INFO, RepoType.MODEL, "gpt2", None, ""),
        ("GET", "/api/datasets/org/d/revision/v1.0", Route.REPO_INFO, RepoType.DATASET, "org/d", "v1.0", ""),
        ("GET", "/api/models/gpt2/revision/main", Route.REPO_INFO, RepoType.MODEL, "gpt2", "main", ""),
        ("GET", "/api/models/o/n/tree/refs%2Fpr%2F1", Route.TREE, RepoType.MODEL, "o/n", "refs/pr/1", ""),
        ("GET", "/api/models/o/n/tree/main/sub/dir", Route.TREE, RepoType.MODEL, "o/n", "main", "sub/dir"),
        ("POST", "/api/spaces/o/s/paths-info/main", Route.PATHS_INFO, RepoType.SPACE, "o/s", "main", ""),
        ("GET", "/o/n/resolve/main/config.json", Route.RESOLVE, RepoType.MODEL, "o/n", "main", "config.json"),
        (
            "HEAD",
            "/datasets/o/d/resolve/v2/a/b%20c.txt",
            Route.RESOLVE,
            RepoType.DATASET,
            "o/d",
            "v2",
            "a/b c.txt",
        ),
        (
            "GET",
            "/gpt2/resolve/refs%2Fpr%2F3/x.bin",
            Route.RESOLVE,
            RepoType.MODEL,
            "gpt2",
            "refs/pr/3",
            "x.bin",
        ),
        (
            "GET",
            "/api/models/o/n/xet-read-token/main",
            Route.XET_READ_TOKEN,
            RepoType.MODEL,
            "o/n",
            "main",
            "",
        ),
    ],
)
def test_routes_parse_repo_revision_and_path(
    method: str,
    path: str,
    route: Route,
    repo_type: RepoType,
    repo_id: str,
    revision: str | None,
    file_path: str,
) -> None:
    found = match(method, path)
    assert found.route is route
    assert found.repo is not None
    assert (found.repo.repo_type, found.repo.repo_id) == (repo_type, repo_id)
    assert found.revision == revision
    assert found.path == file_path


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/models/a..b/c", InvalidRepoId),
        ("/api/models/a/b--c", InvalidRepoId),
        ("/api/models/-a/b", InvalidRepoId),
        ("/api/models/a/b.git", InvalidRepoId),
        ("/api/models/a%2Fb%2Fc/x", InvalidRepoId),
        ("/api/things/a/b", InvalidRepoId),
        ("/o/n/resolve/main/../../etc/passwd", InvalidPath),
        ("/o/n/resolve/main/a/%2e%2e/b", InvalidPath),
        ("/o/n/resolve/main/a/%252e%252e/b", InvalidPath),
        ("/o/n/resolve/main/%2Fetc%2Fpasswd", InvalidPath),
        ("/o/n/resolve/main/a%5Cb", InvalidPath),
        ("/o/n/resolve/main/a%00b", InvalidPath),
        ("/o/n/resolve/main/a//b", InvalidPath),
        ("/o/n/resolve/a..b/x", InvalidRevision),
        ("/o/n/resolve/%2Fmain/x", InvalidRevision),
        ("/o/n/resolve/ma%20in/x", InvalidRevision),
        ("/o/n/resolve/main.lock/x", InvalidRevision),
    ],
)
def test_malformed_input_is_refused_with_its_own_error(path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        match("GET", path)


def test_unknown_endpoints_and_methods() -> None:
    with pytest.raises(NotFound):
        match("GET", "/nothing/here")
    with pytest.raises(MethodNotAllowed):
        match("DELETE", "/o/n/resolve/main/x")
