#!/usr/bin/env bash
# Install hubgate into ./.venv-serve and start it on its embedded defaults: disk store + SQLite under
# ./hubgate-data, upstream https://huggingface.co, listening on http://127.0.0.1:8080.
# Any argument is passed to `hubgate serve` (e.g. --port 9000 --data-dir /srv/hubgate).
# The dependencies are installed as requirements/hubgate.lock pins them (hash-checked), as in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_python
make_locked_venv .venv-serve
exec .venv-serve/bin/hubgate serve "$@"
