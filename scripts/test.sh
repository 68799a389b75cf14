#!/usr/bin/env bash
# Runs every test of faceid-h5: formatting and lints (cargo fmt --check, cargo clippy -D warnings),
# native tests (cargo test --workspace, which includes the server's real-HTTP tests, its store
# contract suite on SQLite and on a PostgreSQL it starts, and the end-to-end browser tests) and in headless Chromium (wasm-pack test) for the page and for
# faceid-core's wasm build. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy -D warnings (native, every target; wasm32: the page and faceid-core)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p faceid-h5 --target wasm32-unknown-unknown --lib --tests --locked -- -D warnings
cargo clippy -p faceid-core --target wasm32-unknown-unknown --lib --tests --features serde --locked -- -D warnings
# setup.sh unpacked the face-model package: the model tests must not skip.
export FACEID_REQUIRE_MODELS=1

echo "== build the page (wasm-pack + wasm-opt; the server hosts it, the end-to-end tests load it)"
bash scripts/build-page.sh

echo "== cargo test --workspace"
cargo test --workspace --locked

echo "== wasm-pack test (page) in headless Chromium"
wasm-pack test --headless --chrome .

echo "== wasm-pack test (faceid-core) in headless Chromium"
wasm-pack test --headless --chrome core --features serde

echo "test.sh: all suites passed"
