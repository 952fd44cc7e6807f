# Sourced by the other scripts: installs the system packages the build needs
# (when missing) and points cargo at a target dir outside the clone, so a
# fresh clone reuses earlier builds (RocksDB's C++ takes ~15 min on 2 cores).
set -euo pipefail

missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v clang >/dev/null 2>&1 || missing+=(clang)
# bindgen needs the unversioned libclang.so that only libclang-dev provides
# (libclang-cpp*.so and libclang.so.1 from other packages do not count).
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || missing+=(libclang-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The partition tests cut links between nodes with an nftables table.
command -v nft >/dev/null 2>&1 || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing build dependencies: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mrouter/target}"
mkdir -p "$CARGO_TARGET_DIR"
# One build shape everywhere: different `-p` selections unify features
# differently and would rebuild RocksDB.
BUILD_ARGS=(--workspace --all-targets)
