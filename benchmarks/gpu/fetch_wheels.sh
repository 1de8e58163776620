#!/usr/bin/env bash
# Download the wheels of benchmarks/gpu/wheels.txt for the device image (CPython 3.12,
# x86-64 Linux) into .whl/ at the repository root, and keep .whl/ out of git.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl .git/info
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -v '^#' benchmarks/gpu/wheels.txt | while read -r wheel; do
  [ -n "$wheel" ] || continue
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$wheel"
done
du -ch .whl/*.whl | tail -n 1
