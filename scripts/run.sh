#!/usr/bin/env bash
# Builds and starts faceid-h5 locally: machine setup, the page (wasm-pack, release), the server
# (release), then prints where to go. Every faceid-server flag works here too, as arguments
# (scripts/run.sh --listen 0.0.0.0:8000) or environment (FACEID_LISTEN=0.0.0.0:8000 scripts/run.sh);
# see `faceid-server --help` for the list.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

echo "== building the page: scripts/build-page.sh (wasm-pack build --target web --profile page, wasm-opt, terser)"
if bash scripts/build-page.sh; then
  page_ok=1
else
  page_ok=0
  echo
  echo "run.sh: the page (crate faceid-h5) did not build; starting the server anyway."
  echo "        /h5/ will answer 404 for the page's script until scripts/build-page.sh succeeds."
  echo
fi

echo "== building the server: cargo build --release -p faceid-server"
cargo build --release -p faceid-server

listen="${FACEID_LISTEN:-127.0.0.1:8000}"
for ((i = 1; i <= $#; i++)); do
  case "${!i}" in
    --listen) j=$((i + 1)); listen="${!j:-$listen}" ;;
    --listen=*) listen="${!i#--listen=}" ;;
  esac
done
case "$listen" in
  0.0.0.0:*) shown="localhost:${listen#0.0.0.0:}" ;;
  *) shown="$listen" ;;
esac
base="${FACEID_PUBLIC_URL:-http://$shown}"
echo
echo "faceid-h5 is starting. Open the demo: ${base%/}/demo"
[ "$page_ok" = 1 ] || echo "(the page build failed: see above)"
echo "Stop with Ctrl-C."
echo
target_dir="${CARGO_TARGET_DIR:-target}"
# www/ and pkg/ are the defaults, relative to the repository root (the working directory here).
# --demo: this is the local demo (the /demo page is off unless asked for); flags given to run.sh
# come after it and win (scripts/run.sh --demo false).
exec "$target_dir/release/faceid-server" --demo "$@"
