"""hubgate's own attestations: an OpenSSF model signature over exactly the files it approved.

The key is an EC P-256 key in a PEM file: generated on first start into the data directory, or supplied
(`provenance.signing_key_path`, e.g. a mounted Secret, so that every replica signs with the same key).
Anyone can check an attestation with the standard tool:
`model_signing verify key --signature hubgate.sig --public_key hubgate.pub <model dir>` (add
`--allow_symlinks` for a snapshot in the Hugging Face cache, whose files are symlinks into blobs/).
The review decision and policy version go into a separate signed statement, never into the manifest.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from mirror.hub.models import RepoRef, RepoType
from mirror.provenance.signing import ModelSigner, ReviewAttestation, manifest_digest, signable_files

# The path the attestation's manifest says its own signature file has. Not `model.sig`: a repo may ship
# its publisher's model.sig, whose bytes hubgate approved like any other file, so the manifest covers it.
SIGNATURE_PATH = "hubgate.sig"


class Attestor:
    def __init__(self, key_path: Path) -> None:
        self._key_path = key_path
        self._signer: ModelSigner | None = None

    async def start(self) -> None:
        """Load the key, creating it if absent (file I/O and key generation off the event loop)."""
        self._signer = await asyncio.to_thread(ModelSigner.from_key_file, self._key_path, create=True)

    @property
    def signer(self) -> ModelSigner:
        if self._signer is None:
            raise RuntimeError("Attestor.start() has not run")
        return self._signer

    async def model_signature(self, repo: RepoRef, commit: str, files: dict[str, str]) -> bytes:
        """An OMS `model.sig` over the approved files (path -> sha256) of the revision."""
        covered = signable_files(files, SIGNATURE_PATH)
        return await asyncio.to_thread(
            self.signer.sign_manifest, covered, model_name=_name(repo, commit), signature_path=SIGNATURE_PATH
        )

    async def review_statement(
        self,
        repo: RepoRef,
        commit: str,
        files: dict[str, str],
        *,
        policy_version: str,
        reviewed_at: datetime,
    ) -> bytes:
        """A signed in-toto statement: this revision was approved under this policy, binding the digest of
        the same files' manifest."""
        review = ReviewAttestation(
            repository=_repository(repo),
            revision=commit,
            decision="approved",
            policy_version=policy_version,
            reviewed_at=reviewed_at,
            manifest_digest=manifest_digest(signable_files(files, SIGNATURE_PATH)),
        )
        return await asyncio.to_thread(self.signer.sign_review, review)


def _repository(repo: RepoRef) -> str:
    return (
        repo.repo_id if repo.repo_type is RepoType.MODEL else f"{repo.repo_type.api_segment}/{repo.repo_id}"
    )


def _name(repo: RepoRef, commit: str) -> str:
    return f"{_repository(repo)}@{commit}"
