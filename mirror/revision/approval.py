"""Whether a whole revision passed review, and the exact bytes that did.

A commit has passed review when the revision gates (repo, licence, signature) admit it and every one
of its files is stored with a servable verdict. Approved-revision pinning serves only such commits,
and hubgate's attestations sign exactly their files.
"""

from __future__ import annotations

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.pipeline import Pipeline
from mirror.errors import MirrorError
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef
from mirror.review.service import ReviewService
from mirror.revision.admission import Admission


class RevisionApproval:
    def __init__(
        self, *, admission: Admission, catalog: Catalog, pipeline: Pipeline, reviews: ReviewService
    ) -> None:
        self._admission = admission
        self._catalog = catalog
        self._pipeline = pipeline
        self._reviews = reviews

    async def approved_files(
        self, repo: RepoRef, commit: str, credentials: Credentials
    ) -> dict[str, str] | None:
        """path -> sha256 of every file of the commit if the whole revision passed review, else None."""
        try:
            await self._admission.admit_revision(repo, commit, credentials)
            entries = await self._catalog.list_files(repo, commit, credentials)
        except MirrorError:
            return None
        files: dict[str, str] = {}
        for entry in entries:
            known = await self._pipeline.known(
                FetchRequest(repo=repo, commit=commit, entry=entry, credentials=credentials)
            )
            if known is None or not self._reviews.servable(known.review):
                return None
            files[entry.path] = known.blob.sha256
        return files
