#!/usr/bin/env bash
# Refresh requirements/hubgate.lock: every dependency of hubgate (with the sigstore extra, which the image
# installs), pinned with the sha256 of every file PyPI has for that version. The image (Dockerfile) and
# scripts/serve.sh install from it with `pip install --require-hashes`, then hubgate with `--no-deps`.
#
# One lock serves Python 3.11 and 3.12 (the host scripts may run either; the image runs 3.12): uv resolves
# "universally", so where a package has no release for both (numpy's newest needs 3.12) the lock holds
# one pin per Python with an environment marker, and pip takes the one whose marker matches.
#
# Run it after changing dependencies in pyproject.toml; `scripts/lock.sh --upgrade` also moves every
# pin to the newest release pyproject allows. tests/deploy/test_lock.py checks that lock and pyproject
# agree. Set UV_DEFAULT_INDEX to resolve against a PyPI mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_python

# uv is pinned: another version may order or annotate the same resolution differently.
make_venv .venv-lock "uv==0.13.9"
# --system-certs: trust what this host trusts (e.g. a proxy's CA) rather than uv's bundled roots.
.venv-lock/bin/uv pip compile pyproject.toml \
  --extra sigstore \
  --universal \
  --python-version 3.11 \
  --generate-hashes \
  --system-certs \
  --quiet \
  --custom-compile-command "scripts/lock.sh" \
  --output-file requirements/hubgate.lock \
  "$@"
echo "requirements/hubgate.lock: $(grep -c '^[a-z0-9]' requirements/hubgate.lock) pinned packages"
