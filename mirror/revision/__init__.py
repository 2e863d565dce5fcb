"""Checks and jobs over a whole commit: admission, the signature gate, revision approval, prefetch,
pinning, re-evaluation."""
