#!/usr/bin/env bash
# The test suite: unit tests, openraft's storage conformance suite, and the
# multi-node tests that drive real mrd processes on loopback.
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
cargo build "${BUILD_ARGS[@]}"
cargo test "${BUILD_ARGS[@]}" "$@"
