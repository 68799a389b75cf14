//! Finds the SeetaFace frontal detector model inside the `rustface` package that Cargo already
//! downloaded (the crate ships `model/seeta_fd_frontal_v1.0.bin`), so the model is embedded from the
//! package that ships it and never copied into this repository or fetched from the network.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL_IN_PACKAGE: &str = "model/seeta_fd_frontal_v1.0.bin";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FACEID_SEETA_MODEL");
    let model = env::var_os("FACEID_SEETA_MODEL")
        .map(PathBuf::from)
        .or_else(rustface_dir_from_metadata)
        .or_else(rustface_dir_from_registry)
        .unwrap_or_else(|| {
            panic!("faceid-core build: cannot find the rustface 0.1.7 package (it ships {MODEL_IN_PACKAGE}); run `cargo fetch` or set FACEID_SEETA_MODEL")
        });
    let model = if model.is_dir() { model.join(MODEL_IN_PACKAGE) } else { model };
    assert!(model.is_file(), "faceid-core build: {} is not a file", model.display());
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rustc-env=FACEID_SEETA_MODEL_PATH={}", model.display());
}

/// Asks Cargo where the `rustface` package lives (works with registries, vendoring and path overrides).
fn rustface_dir_from_metadata() -> Option<PathBuf> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env::var("CARGO_MANIFEST_DIR").ok()?)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    meta["packages"].as_array()?.iter().find_map(|p| {
        (p["name"] == "rustface")
            .then(|| Path::new(p["manifest_path"].as_str()?).parent().map(Path::to_path_buf))
            .flatten()
    })
}

/// Fallback: the default registry source directory under CARGO_HOME.
fn rustface_dir_from_registry() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    std::fs::read_dir(home.join("registry/src")).ok()?.flatten().find_map(|index| {
        let dir = index.path().join("rustface-0.1.7");
        dir.join(MODEL_IN_PACKAGE).is_file().then_some(dir)
    })
}
