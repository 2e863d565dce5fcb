"""The inventory's URLs in the route table, ahead of the API's catch-all."""

from __future__ import annotations

import pytest

from mirror.http.routes import MethodNotAllowed, Route, match

API = "/api/hubgate/v1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("path", "route", "params"),
    [
        (f"{API}/inventory", Route.ADMIN_INVENTORY, {}),
        (f"{API}/inventory/sbom", Route.ADMIN_INVENTORY_SBOM, {}),
        (
            f"{API}/inventory/model/Qwen/Qwen3-0.6B/{COMMIT}/sbom",
            Route.ADMIN_REVISION_SBOM,
            {"repo_type": "model", "org": "Qwen", "name": "Qwen3-0.6B", "commit": COMMIT},
        ),
        (
            f"{API}/inventory/dataset/gpt2-corpus/{COMMIT}/sbom",
            Route.ADMIN_REVISION_SBOM,
            {"repo_type": "dataset", "name": "gpt2-corpus", "commit": COMMIT},
        ),
        (f"{API}/reports/origins", Route.ADMIN_REPORT, {"kind": "origins"}),
        (f"{API}/reports/licences", Route.ADMIN_REPORT, {"kind": "licences"}),
        # Anything else under the API is the API's "no such endpoint", never a Hub route.
        (f"{API}/reports/volumes", Route.ADMIN_UNKNOWN, {}),
        (f"{API}/inventory/models/Qwen/Qwen3-0.6B/{COMMIT}/sbom", Route.ADMIN_UNKNOWN, {}),
        (f"{API}/inventory/model/Qwen/Qwen3-0.6B/main/sbom", Route.ADMIN_UNKNOWN, {}),
    ],
)
def test_inventory_urls(path: str, route: Route, params: dict[str, str]) -> None:
    found = match("GET", path)
    assert found.route is route
    assert dict(found.params) == params


def test_the_inventory_is_read_only() -> None:
    with pytest.raises(MethodNotAllowed):
        match("DELETE", f"{API}/inventory")
