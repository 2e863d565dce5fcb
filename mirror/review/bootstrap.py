"""The bootstrap admin token (`auth.admin_token`, env HUBGATE_AUTH__ADMIN_TOKEN).

`hubgate token create` needs a shell that reaches the database; in a cluster the first admin token comes
from a Secret instead. At startup every replica makes sure the token named `bootstrap-admin` has the admin
role and the secret's hash: created when missing, its hash replaced when the secret changed (the old value
stops working), left alone when it matches. A token an operator revoked stays revoked until the secret
changes. No other token is touched, and unset means nothing happens. Its subject (the person it stands
for, as four-eyes sees it) is `bootstrap-admin`: one person, whoever holds the Secret.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from mirror.review.auth import hash_token
from mirror.review.transitions import Role
from storage.db import Database
from storage.token_bootstrap import Ensured, ensure_named_token

log = logging.getLogger(__name__)

BOOTSTRAP_TOKEN_NAME = "bootstrap-admin"  # noqa: S105 - a name, not a secret
# The person the bootstrap token stands for, for four-eyes and the audit trail: whoever holds the Secret.
BOOTSTRAP_SUBJECT = "bootstrap-admin"


async def ensure_admin_token(token: SecretStr | None, database: Database) -> Ensured | None:
    """Create or update the `bootstrap-admin` token from the configured secret (None: do nothing).

    Raises storage.token_bootstrap.TokenHashTaken when the secret is already another token's,
    DatabaseUnavailable.
    """
    if token is None:
        return None
    role = Role.ADMIN.name.lower()
    outcome = await ensure_named_token(
        database,
        name=BOOTSTRAP_TOKEN_NAME,
        subject=BOOTSTRAP_SUBJECT,
        role=role,
        token_hash=hash_token(token.get_secret_value()),
        actor="hubgate",
        actor_role=Role.SYSTEM.name.lower(),
        reason="from auth.admin_token",
    )
    if outcome is Ensured.KEPT_REVOKED:
        log.warning(
            "API token %r was revoked; auth.admin_token still holds it, so it stays revoked "
            "until that secret changes",
            BOOTSTRAP_TOKEN_NAME,
        )
    elif outcome is not Ensured.UNCHANGED:
        log.info("API token %r %s from auth.admin_token", BOOTSTRAP_TOKEN_NAME, outcome.value)
    return outcome
