#!/usr/bin/env bash
# The main job: build, then run a local 3-node cluster (real processes, real
# RocksDB under ./mrouter-dev), initialized and ready for mrctl.
# Extra arguments go to `mrd dev` (e.g. --nodes 5 --dir /tmp/c1 --base-port 7101).
source "$(dirname "$0")/env.sh"
cd "$(dirname "$0")/.."
cargo build "${BUILD_ARGS[@]}"
exec "$CARGO_TARGET_DIR/debug/mrd" dev "$@"
