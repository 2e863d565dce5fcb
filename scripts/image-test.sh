#!/usr/bin/env bash
# Build the container image from the Dockerfile as shipped and check it running, without a Docker daemon:
# podman builds it (in chroot isolation) on a base of Debian's own python3 made from Debian's packages,
# and buildah runs it as its uid 10001 (tests/deploy/test_image.py says what is checked). scripts/test.sh
# calls it; it also runs alone. Arguments go to pytest.
#
# The python:3.12-slim base the Dockerfile names comes from a registry this machine may not reach, so
# only PYTHON_IMAGE is pointed elsewhere: at Debian bookworm's python3 (3.11), made with mmdebstrap and
# cached (the tarball under ~/.cache/hubgate/image-test, the image in podman's storage) per week and
# package set, so that security updates come in weekly and a change of packages takes effect at once.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

SECONDS=0
BASE_SUITE=bookworm
# The Dockerfile's build stage runs `python -m venv` and `python -m pip`, as in the python images.
BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
BASE_REPOSITORY=localhost/hubgate-pybase
# What the python images set in their config too (an imported tarball has no config of its own): the
# Dockerfile's PATH=/opt/hubgate/bin:$PATH builds on it.
BASE_CONFIG=("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "ENV LANG=C.UTF-8")
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/hubgate/image-test

skip() {
  # A skip says so, loudly: the image is then not checked at all.
  echo "SKIPPED: the container image tests did not run: $*" >&2
  exit 0
}

# The tools not on PATH, on one line.
missing_tools() {
  local tool missing=()
  for tool in podman buildah mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  echo "${missing[*]}"
}

if [ -n "$(missing_tools)" ]; then
  echo "== installing podman, buildah and mmdebstrap (Debian's packages)"
  command -v apt-get >/dev/null 2>&1 || skip "no apt-get to install $(missing_tools)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah mmdebstrap \
    >/dev/null; } || skip "apt-get could not install $(missing_tools)"
  [ -z "$(missing_tools)" ] || skip "$(missing_tools) still missing after apt-get install"
  echo "   tools installed in ${SECONDS}s"
fi

if [ ! -x .venv/bin/pytest ]; then
  ensure_python
  make_venv .venv -e ".[test]"
fi

# The host's own Debian sources when it is bookworm (its mirror, and its security updates); Debian's
# default mirrors otherwise. Each line is one argument of mmdebstrap: a sources file or a `deb` line.
base_sources() {
  local file
  for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -f "$file" ] && grep -qw "$BASE_SUITE" "$file"; then
      echo "$file"
      return
    fi
  done
  echo "deb http://deb.debian.org/debian $BASE_SUITE $BASE_SUITE-updates main"
  echo "deb http://deb.debian.org/debian-security $BASE_SUITE-security main"
}
mapfile -t sources < <(base_sources)
key=$(
  {
    echo "$BASE_SUITE $BASE_PACKAGES $(date -u +%G-W%V)"
    printf '%s\n' "${BASE_CONFIG[@]}"
    printf '%s\n' "${sources[@]}"
    for source in "${sources[@]}"; do [ -f "$source" ] && cat "$source"; done
  } | sha256sum | cut -c1-12
)
base="$BASE_REPOSITORY:$BASE_SUITE-$key"

phase=$SECONDS
if podman image exists "$base"; then
  echo "== base image $base (cached)"
else
  mkdir -p "$CACHE_DIR"
  tarball="$CACHE_DIR/base-$key.tar"
  if [ ! -s "$tarball" ]; then
    echo "== making the base image from Debian's packages: $BASE_SUITE minbase + $BASE_PACKAGES"
    # Older weeks' or package sets' tarballs are of no more use.
    find "$CACHE_DIR" -maxdepth 1 -name 'base-*.tar*' -delete
    mmdebstrap --quiet --variant=minbase --format=tar --include="$BASE_PACKAGES" \
      "$BASE_SUITE" "$tarball.partial" "${sources[@]}"
    mv "$tarball.partial" "$tarball"
  fi
  changes=()
  for change in "${BASE_CONFIG[@]}"; do changes+=(--change "$change"); done
  podman import --quiet "${changes[@]}" "$tarball" "$base" >/dev/null
  # Earlier bases of this script, unless something still uses them (podman refuses then).
  podman images --format '{{.Repository}}:{{.Tag}}' "$BASE_REPOSITORY" | grep -vxF "$base" |
    xargs -r podman rmi >/dev/null 2>&1 || true
  echo "   base image $base made in $((SECONDS - phase))s"
fi

echo "== building the image and checking it in a container (tests/deploy/test_image.py)"
phase=$SECONDS
HUBGATE_IMAGE_BASE="$base" .venv/bin/pytest -m image -p no:cacheprovider --durations=5 tests/deploy/test_image.py "$@"
echo "== image tests: ${SECONDS}s in all (setup $((phase))s, build and checks $((SECONDS - phase))s)"
