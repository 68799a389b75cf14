//! Sensitive-field encryption checked against other implementations than the server's: the
//! official Tencent Cloud Python SDK for transport and signing (pointed at the real binary by its
//! endpoint), OpenSSL (`cryptography`) and `gmssl` for the ciphers. scripts/setup.sh installs them
//! into a virtualenv (FACEID_SDK_PYTHON names its python; default
//! ~/.cache/faceid-h5/sdk-venv/bin/python).

mod common;

use common::ServerProcess;

fn sdk_python() -> std::path::PathBuf {
    match std::env::var_os("FACEID_SDK_PYTHON") {
        Some(p) => p.into(),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            std::path::Path::new(&home).join(".cache/faceid-h5/sdk-venv/bin/python")
        }
    }
}

#[test]
fn the_official_python_sdk_round_trips_encrypted_fields() {
    let python = sdk_python();
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs the Python SDK virtualenv)",
        python.display()
    );
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/faceid_encryption.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args([
            server.addr(),
            server.secret_id.clone(),
            server.secret_key.clone(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    for check in [
        "AES-256-CBC: IsEncryptResponse",
        "SM4-GCM: IsEncryptResponse",
    ] {
        assert!(stdout.contains(check), "{stdout}");
    }
}
