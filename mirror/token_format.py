"""The shape of a hubgate API token, which the settings check before anything else runs.

It sits below every layer because two of them need it: the settings validate `auth.admin_token` (the
bootstrap admin's Secret) at load time, and review/auth.py issues tokens with the same prefix.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr

TOKEN_PREFIX = "hgt_"  # noqa: S105 - a prefix, not a secret

# As long as generate_token()'s (43 URL-safe base64 characters: 256 bits) or longer, same alphabet.
_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43,}")


def _conceal(value: Any) -> Any:
    # Runs first, so that a validation error shows SecretStr('**********') as the input, never the token.
    # Surrounding whitespace is dropped: a Secret created from a file often ends in a newline, and clients
    # send the token without it.
    return SecretStr(value.strip()) if isinstance(value, str) else value


def _check_shape(value: SecretStr) -> SecretStr:
    if not _SHAPE.fullmatch(value.get_secret_value()):
        msg = (
            f"must be a hubgate API token: {TOKEN_PREFIX!r} followed by at least 43 characters of "
            "A-Z a-z 0-9 _ -, e.g. python -c \"import secrets; print('hgt_' + secrets.token_urlsafe(32))\""
        )
        raise ValueError(msg)
    return value


# Validators listed later run earlier: _conceal wraps the raw value before anything can fail.
AdminToken = Annotated[SecretStr, AfterValidator(_check_shape), BeforeValidator(_conceal)]
