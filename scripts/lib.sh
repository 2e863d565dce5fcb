# Shared by scripts/serve.sh and scripts/test.sh: find a supported Python and build virtualenvs.
# shellcheck shell=bash

# Prints the first interpreter with 3.11 <= version < 3.13 (modelscan does not support 3.13 yet).
find_python() {
  local candidate
  for candidate in "${HUBGATE_PYTHON:-}" python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; raise SystemExit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_python() {
  if ! PYTHON=$(find_python); then
    echo "hubgate needs Python 3.11 or 3.12; installing Debian's python3 and venv" >&2
    apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    PYTHON=$(find_python) || { echo "no Python 3.11/3.12 found" >&2; exit 1; }
  fi
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  export PYTHON
}

# make_venv DIR SPEC... : create DIR if needed and install the specs; skipped when nothing changed.
# pip byte-compiles what it installs, and must: where PYTHONDONTWRITEBYTECODE is set (this CI sets it),
# nothing else ever writes bytecode, and with `--no-compile` every test process compiled torch and
# transformers from source (the main test run took 10:01 instead of 6:56).
make_venv() {
  local dir=$1
  shift
  local stamp="$dir/.hubgate-installed"
  local want
  want=$( { cat pyproject.toml; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$dir/bin/python" -m pip install --quiet "$@"
  echo "$want" >"$stamp"
}

# make_locked_venv DIR: hubgate's dependencies exactly as requirements/hubgate.lock pins them (every file
# checked against its sha256; scripts/lock.sh refreshes the lock), then hubgate itself without resolving
# anything again. Skipped when neither pyproject.toml nor the lock changed.
make_locked_venv() {
  local dir=$1
  local stamp="$dir/.hubgate-installed"
  local want
  want=$(cat pyproject.toml requirements/hubgate.lock | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$dir/bin/python" -m pip install --quiet --require-hashes --requirement requirements/hubgate.lock
  "$dir/bin/python" -m pip install --quiet --no-deps .
  echo "$want" >"$stamp"
}
