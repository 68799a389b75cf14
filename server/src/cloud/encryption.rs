//! Sensitive-field encryption (PROTOCOL.md §4), in the format of FaceID's encryption guide and its
//! official crypto SDK (`TencentCloud/faceid-api-crypto-java`):
//!
//! ```text
//! Encryption = { EncryptList: ["IdCard", "Name"], Algorithm, CiphertextBlob, Iv, TagList }
//! ```
//!
//! The caller draws a symmetric key, wraps it with this server's public key (`CiphertextBlob`,
//! Base64) and encrypts each listed field with it (the field's value becomes the Base64
//! ciphertext):
//! - `AES-256-CBC` (the default): 32-byte key wrapped with RSA PKCS#1 v1.5, 16-byte IV, PKCS#7.
//! - `SM4-GCM`: 16-byte key wrapped with SM2 in C1C3C2 order, 12-byte IV, one 16-byte tag per
//!   listed field in `TagList` (same order as `EncryptList`).
//!
//! `Iv` is Base64 (as the SDK sends it); for AES-256-CBC a 16-character raw string is accepted too
//! (the API reference describes it so). An SM2 ciphertext whose C1 lacks the SEC1 `04` prefix (as
//! some SM2 libraries write it) is accepted as well.
//!
//! Every way a blob or a field fails to decrypt is one answer ("cannot be decrypted"): which step
//! failed is no oracle for a caller probing the private key (and only callers who can sign
//! requests get that far).

use std::path::Path;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use aes_gcm::aead::{AeadInOut, KeyInit};
use base64::Engine;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Encrypt, PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use serde::Deserialize;
use sm2::elliptic_curve::Generate;
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};

/// RSA modulus size of a generated key: 2048 bits (112-bit security, what PKCS#1 v1.5 key
/// transport is still used with; FaceID's own key is 1024).
const RSA_BITS: usize = 2048;
const AES_256_KEY_BYTES: usize = 32;
const SM4_KEY_BYTES: usize = 16;
const CBC_IV_BYTES: usize = 16;
const GCM_IV_BYTES: usize = 12;
const GCM_TAG_BYTES: usize = 16;
/// The SEC1 tag of an uncompressed point, and an SM2 C1C3C2 ciphertext's length without it for a
/// 16-byte key: 64 (C1) + 32 (C3, SM3) + 16 (C2).
const SEC1_UNCOMPRESSED: u8 = 0x04;
const SM2_SM4_KEY_CIPHERTEXT_WITHOUT_TAG: usize = 64 + 32 + SM4_KEY_BYTES;
/// The fields DetectAuth accepts encrypted (and GetDetectInfoEnhanced returns encrypted).
pub const ENCRYPTABLE_FIELDS: [&str; 2] = ["IdCard", "Name"];
/// EncryptList of a whole-body encrypted response (IsEncryptResponse).
pub const ENCRYPTED_BODY_FIELD: &str = "EncryptedBody";

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("Encryption.Algorithm must be AES-256-CBC or SM4-GCM")]
    UnsupportedAlgorithm,
    #[error("Encryption.CiphertextBlob (the wrapped key) is required")]
    MissingKey,
    #[error("Encryption.EncryptList may name IdCard and Name")]
    UnsupportedField,
    #[error("Encryption.EncryptList names {0}, which the request does not carry")]
    MissingField(String),
    #[error("Encryption.Iv must be Base64 of {0} bytes")]
    BadIv(usize),
    #[error("Encryption.TagList must hold one tag per EncryptList entry")]
    TagList,
    #[error("the encrypted fields cannot be decrypted with this CiphertextBlob")]
    CannotDecrypt,
    #[error("the operating system's random source failed")]
    Random,
}

/// Failures with the server's key pair (loading, generating, storing).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("encryption key {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("encryption key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The symmetric algorithms of PROTOCOL.md §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Aes256Cbc,
    Sm4Gcm,
}

impl Algorithm {
    /// FaceID's names; absent means AES-256-CBC (FaceID's default).
    pub fn parse(name: Option<&str>) -> Result<Algorithm, EncryptionError> {
        match name.map(str::trim) {
            None | Some("") | Some("AES-256-CBC") => Ok(Algorithm::Aes256Cbc),
            Some("SM4-GCM") => Ok(Algorithm::Sm4Gcm),
            Some(_) => Err(EncryptionError::UnsupportedAlgorithm),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256Cbc => "AES-256-CBC",
            Algorithm::Sm4Gcm => "SM4-GCM",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Algorithm::Aes256Cbc => AES_256_KEY_BYTES,
            Algorithm::Sm4Gcm => SM4_KEY_BYTES,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Algorithm::Aes256Cbc => CBC_IV_BYTES,
            Algorithm::Sm4Gcm => GCM_IV_BYTES,
        }
    }
}

/// The `Encryption` object of a request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionParams {
    pub encrypt_list: Option<Vec<String>>,
    pub ciphertext_blob: Option<String>,
    pub iv: Option<String>,
    pub algorithm: Option<String>,
    pub tag_list: Option<Vec<String>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The server's key pair for wrapped keys: RSA for AES-256-CBC, SM2 for SM4-GCM.
pub struct KeyPair {
    rsa: RsaPrivateKey,
    sm2: sm2::SecretKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").finish_non_exhaustive()
    }
}

/// Reads a PEM private key, or generates one (`generate` makes its PEM) and stores it owner-only.
fn load_or_generate<K>(
    path: &Path,
    parse: impl Fn(&str) -> Result<K, String>,
    generate: impl FnOnce() -> Result<String, String>,
) -> Result<(K, bool), KeyError> {
    let shown = path.display().to_string();
    let invalid = |message: String| KeyError::Invalid {
        path: shown.clone(),
        message,
    };
    let (bytes, created) =
        crate::private_fs::read_or_create(path, || generate().map(String::into_bytes)).map_err(
            |e| match e {
                crate::private_fs::SecretFileError::Io(source) => KeyError::Io {
                    path: shown.clone(),
                    source,
                },
                crate::private_fs::SecretFileError::Create(message) => invalid(message),
            },
        )?;
    let pem = String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
    Ok((parse(&pem).map_err(invalid)?, created))
}

impl KeyPair {
    /// Loads the PKCS#8 PEM private keys at the two paths, generating (and storing, 0600) each one
    /// that does not exist yet. The bool says whether any was generated.
    pub fn load_or_generate(rsa_path: &Path, sm2_path: &Path) -> Result<(KeyPair, bool), KeyError> {
        let (rsa, rsa_new) = load_or_generate(
            rsa_path,
            |pem| RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string()),
            || {
                let key = RsaPrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                    .map_err(|e| e.to_string())?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| e.to_string())?;
                Ok(pem.to_string())
            },
        )?;
        let (sm2, sm2_new) = load_or_generate(
            sm2_path,
            |pem| sm2::SecretKey::from_pkcs8_pem(pem).map_err(|e| e.to_string()),
            || {
                let key = sm2::SecretKey::try_generate().map_err(|e| e.to_string())?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| e.to_string())?;
                Ok(pem.to_string())
            },
        )?;
        Ok((KeyPair { rsa, sm2 }, rsa_new || sm2_new))
    }

    /// The RSA public key as PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`, the form FaceID's SDK loads).
    pub fn rsa_public_pem(&self) -> String {
        RsaPublicKey::from(&self.rsa)
            .to_pkcs1_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The SM2 public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub fn sm2_public_pem(&self) -> String {
        self.sm2
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// Unwraps the caller's symmetric key from `CiphertextBlob` (Base64).
    pub fn unwrap_key(
        &self,
        algorithm: Algorithm,
        blob_b64: &str,
    ) -> Result<SessionKey, EncryptionError> {
        let blob = b64()
            .decode(blob_b64.trim())
            .map_err(|_| EncryptionError::CannotDecrypt)?;
        let key = match algorithm {
            Algorithm::Aes256Cbc => self.rsa.decrypt(Pkcs1v15Encrypt, &blob).ok(),
            Algorithm::Sm4Gcm => {
                let decrypting =
                    DecryptingKey::new_with_mode(self.sm2.to_nonzero_scalar(), Mode::C1C3C2);
                let blob = if blob.len() == SM2_SM4_KEY_CIPHERTEXT_WITHOUT_TAG {
                    [&[SEC1_UNCOMPRESSED][..], &blob].concat()
                } else {
                    blob
                };
                decrypting.decrypt(&blob).ok()
            }
        }
        .ok_or(EncryptionError::CannotDecrypt)?;
        if key.len() != algorithm.key_len() {
            return Err(EncryptionError::CannotDecrypt);
        }
        Ok(SessionKey { algorithm, key })
    }

    /// Wraps `key` for this server (what a caller does; the tests use it).
    pub fn wrap_key(&self, algorithm: Algorithm, key: &[u8]) -> Result<String, EncryptionError> {
        let wrapped = match algorithm {
            Algorithm::Aes256Cbc => RsaPublicKey::from(&self.rsa)
                .encrypt(&mut getrandom::SysRng, Pkcs1v15Encrypt, key)
                .map_err(|_| EncryptionError::Random)?,
            Algorithm::Sm4Gcm => EncryptingKey::new_with_mode(self.sm2.public_key(), Mode::C1C3C2)
                .encrypt(&mut getrandom::SysRng, key)
                .map_err(|_| EncryptionError::Random)?,
        };
        Ok(b64().encode(wrapped))
    }
}

/// A caller's symmetric key, unwrapped.
pub struct SessionKey {
    algorithm: Algorithm,
    key: Vec<u8>,
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.key.iter_mut().for_each(|b| *b = 0);
    }
}

/// One encrypted value: ciphertext and, for SM4-GCM, its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub tag: Option<Vec<u8>>,
}

impl SessionKey {
    /// A key of `algorithm` (tests and callers).
    pub fn new(algorithm: Algorithm, key: Vec<u8>) -> Result<SessionKey, EncryptionError> {
        if key.len() != algorithm.key_len() {
            return Err(EncryptionError::CannotDecrypt);
        }
        Ok(SessionKey { algorithm, key })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The request's `Iv`: Base64 of the algorithm's IV length, or (AES-256-CBC) 16 raw characters.
    pub fn parse_iv(&self, iv: &str) -> Result<Vec<u8>, EncryptionError> {
        let want = self.algorithm.iv_len();
        match b64().decode(iv.trim()) {
            Ok(bytes) if bytes.len() == want => Ok(bytes),
            _ if self.algorithm == Algorithm::Aes256Cbc && iv.len() == want => {
                Ok(iv.as_bytes().to_vec())
            }
            _ => Err(EncryptionError::BadIv(want)),
        }
    }

    /// A fresh random IV for this algorithm.
    pub fn fresh_iv(&self) -> Result<Vec<u8>, EncryptionError> {
        let mut iv = vec![0u8; self.algorithm.iv_len()];
        getrandom::fill(&mut iv).map_err(|_| EncryptionError::Random)?;
        Ok(iv)
    }

    pub fn encrypt(&self, iv: &[u8], plaintext: &[u8]) -> Result<Sealed, EncryptionError> {
        match self.algorithm {
            Algorithm::Aes256Cbc => {
                let enc = Aes256CbcEnc::new_from_slices(&self.key, iv)
                    .map_err(|_| EncryptionError::BadIv(CBC_IV_BYTES))?;
                Ok(Sealed {
                    ciphertext: enc.encrypt_padded_vec::<Pkcs7>(plaintext),
                    tag: None,
                })
            }
            Algorithm::Sm4Gcm => {
                let gcm = Sm4Gcm::new_from_slice(&self.key)
                    .map_err(|_| EncryptionError::CannotDecrypt)?;
                let nonce = iv
                    .try_into()
                    .map_err(|_| EncryptionError::BadIv(GCM_IV_BYTES))?;
                let mut buf = plaintext.to_vec();
                let tag = gcm
                    .encrypt_inout_detached(nonce, b"", buf.as_mut_slice().into())
                    .map_err(|_| EncryptionError::CannotDecrypt)?;
                Ok(Sealed {
                    ciphertext: buf,
                    tag: Some(tag.to_vec()),
                })
            }
        }
    }

    pub fn decrypt(&self, iv: &[u8], sealed: &Sealed) -> Result<Vec<u8>, EncryptionError> {
        match self.algorithm {
            Algorithm::Aes256Cbc => {
                let dec = Aes256CbcDec::new_from_slices(&self.key, iv)
                    .map_err(|_| EncryptionError::CannotDecrypt)?;
                dec.decrypt_padded_vec::<Pkcs7>(&sealed.ciphertext)
                    .map_err(|_| EncryptionError::CannotDecrypt)
            }
            Algorithm::Sm4Gcm => {
                let gcm = Sm4Gcm::new_from_slice(&self.key)
                    .map_err(|_| EncryptionError::CannotDecrypt)?;
                let nonce = iv.try_into().map_err(|_| EncryptionError::CannotDecrypt)?;
                let tag = sealed
                    .tag
                    .as_deref()
                    .filter(|t| t.len() == GCM_TAG_BYTES)
                    .ok_or(EncryptionError::CannotDecrypt)?;
                let tag = tag.try_into().map_err(|_| EncryptionError::CannotDecrypt)?;
                let mut buf = sealed.ciphertext.clone();
                gcm.decrypt_inout_detached(nonce, b"", buf.as_mut_slice().into(), tag)
                    .map_err(|_| EncryptionError::CannotDecrypt)?;
                Ok(buf)
            }
        }
    }
}

/// DetectAuth's encrypted fields: checks `params`, unwraps the key and returns the plaintext of
/// each listed field, given each field's Base64 ciphertext as the request carried it.
pub fn decrypt_request_fields(
    keys: &KeyPair,
    params: &EncryptionParams,
    field: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, EncryptionError> {
    let algorithm = Algorithm::parse(params.algorithm.as_deref())?;
    let list = params.encrypt_list.clone().unwrap_or_default();
    if list
        .iter()
        .any(|f| !ENCRYPTABLE_FIELDS.contains(&f.as_str()))
    {
        return Err(EncryptionError::UnsupportedField);
    }
    let blob = params
        .ciphertext_blob
        .as_deref()
        .filter(|b| !b.is_empty())
        .ok_or(EncryptionError::MissingKey)?;
    let key = keys.unwrap_key(algorithm, blob)?;
    let iv = key.parse_iv(params.iv.as_deref().unwrap_or(""))?;
    let tags = params.tag_list.clone().unwrap_or_default();
    if algorithm == Algorithm::Sm4Gcm && tags.len() != list.len() {
        return Err(EncryptionError::TagList);
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let value = field(name).ok_or_else(|| EncryptionError::MissingField(name.clone()))?;
        let ciphertext = b64()
            .decode(value.trim())
            .map_err(|_| EncryptionError::CannotDecrypt)?;
        let tag = match algorithm {
            Algorithm::Sm4Gcm => Some(
                b64()
                    .decode(tags[i].trim())
                    .map_err(|_| EncryptionError::CannotDecrypt)?,
            ),
            Algorithm::Aes256Cbc => None,
        };
        let plain = key.decrypt(&iv, &Sealed { ciphertext, tag })?;
        let plain = String::from_utf8(plain).map_err(|_| EncryptionError::CannotDecrypt)?;
        out.push((name.clone(), plain));
    }
    Ok(out)
}

/// Base64 of bytes (for response fields).
pub fn to_b64(bytes: &[u8]) -> String {
    b64().encode(bytes)
}

/// Bytes of Base64 (for the tests' side of a round trip).
pub fn from_b64(s: &str) -> Option<Vec<u8>> {
    b64().decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_keys() -> KeyPair {
        let dir = tempfile::tempdir().unwrap();
        KeyPair::load_or_generate(&dir.path().join("rsa.pem"), &dir.path().join("sm2.pem"))
            .unwrap()
            .0
    }

    #[test]
    fn keys_are_generated_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (rsa, sm2) = (dir.path().join("rsa.pem"), dir.path().join("sm2.pem"));
        let (a, generated) = KeyPair::load_or_generate(&rsa, &sm2).unwrap();
        assert!(generated);
        let (b, generated) = KeyPair::load_or_generate(&rsa, &sm2).unwrap();
        assert!(!generated);
        assert_eq!(a.rsa_public_pem(), b.rsa_public_pem());
        assert_eq!(a.sm2_public_pem(), b.sm2_public_pem());
        assert!(a
            .rsa_public_pem()
            .starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        assert!(a.sm2_public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        use std::os::unix::fs::PermissionsExt;
        for p in [rsa, sm2] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn request_fields_round_trip_in_both_algorithms() {
        let keys = fresh_keys();
        for (algorithm, key_len) in [(Algorithm::Aes256Cbc, 32), (Algorithm::Sm4Gcm, 16)] {
            let raw: Vec<u8> = (0..key_len as u8).collect();
            let session = SessionKey::new(algorithm, raw.clone()).unwrap();
            let iv = session.fresh_iv().unwrap();
            let id = session
                .encrypt(&iv, "11010519491231002X".as_bytes())
                .unwrap();
            let name = session.encrypt(&iv, "张三".as_bytes()).unwrap();
            let params = EncryptionParams {
                encrypt_list: Some(vec!["IdCard".into(), "Name".into()]),
                ciphertext_blob: Some(keys.wrap_key(algorithm, &raw).unwrap()),
                iv: Some(to_b64(&iv)),
                algorithm: Some(algorithm.name().into()),
                tag_list: id
                    .tag
                    .as_ref()
                    .map(|t| vec![to_b64(t), to_b64(name.tag.as_ref().unwrap())]),
            };
            let fields = |f: &str| match f {
                "IdCard" => Some(to_b64(&id.ciphertext)),
                "Name" => Some(to_b64(&name.ciphertext)),
                _ => None,
            };
            let plain = decrypt_request_fields(&keys, &params, fields).unwrap();
            assert_eq!(
                plain,
                vec![
                    ("IdCard".into(), "11010519491231002X".into()),
                    ("Name".into(), "张三".into())
                ]
            );

            // A flipped ciphertext bit: refused (GCM by its tag, CBC by its padding or the
            // plaintext no longer being what was sent).
            let mut tampered = id.ciphertext.clone();
            tampered[0] ^= 1;
            let fields = |f: &str| match f {
                "IdCard" => Some(to_b64(&tampered)),
                _ => Some(to_b64(&name.ciphertext)),
            };
            match decrypt_request_fields(&keys, &params, fields) {
                Err(EncryptionError::CannotDecrypt) => {}
                Ok(p) => {
                    assert!(algorithm == Algorithm::Aes256Cbc && p[0].1 != "11010519491231002X")
                }
                Err(e) => panic!("{e}"),
            }
            // Another server's key (a blob it cannot unwrap).
            let other = SessionKey::new(algorithm, raw).unwrap();
            assert_eq!(other.algorithm(), algorithm);
            let foreign = EncryptionParams {
                ciphertext_blob: Some(
                    fresh_keys()
                        .wrap_key(algorithm, &[7u8; 32][..key_len])
                        .unwrap(),
                ),
                ..params.clone()
            };
            assert!(matches!(
                decrypt_request_fields(&keys, &foreign, |_| Some(to_b64(&id.ciphertext))),
                Err(EncryptionError::CannotDecrypt)
            ));
        }
    }

    #[test]
    fn the_format_is_checked() {
        let keys = fresh_keys();
        assert!(matches!(
            Algorithm::parse(Some("DES")),
            Err(EncryptionError::UnsupportedAlgorithm)
        ));
        assert_eq!(Algorithm::parse(None).unwrap(), Algorithm::Aes256Cbc);
        let params = EncryptionParams {
            encrypt_list: Some(vec!["Phone".into()]),
            ..Default::default()
        };
        assert!(matches!(
            decrypt_request_fields(&keys, &params, |_| None),
            Err(EncryptionError::UnsupportedField)
        ));
        let params = EncryptionParams {
            encrypt_list: Some(vec!["IdCard".into()]),
            ..Default::default()
        };
        assert!(matches!(
            decrypt_request_fields(&keys, &params, |_| None),
            Err(EncryptionError::MissingKey)
        ));
        let session = SessionKey::new(Algorithm::Aes256Cbc, vec![1; 32]).unwrap();
        assert_eq!(
            session.parse_iv("0123456789abcdef").unwrap(),
            b"0123456789abcdef".to_vec()
        );
        assert!(matches!(
            session.parse_iv("short"),
            Err(EncryptionError::BadIv(16))
        ));
        let gcm = SessionKey::new(Algorithm::Sm4Gcm, vec![1; 16]).unwrap();
        assert!(matches!(gcm.parse_iv("0123456789abcdef"), Ok(iv) if iv.len() == 12));
    }

    #[test]
    fn sm2_ciphertexts_without_the_sec1_prefix_are_accepted() {
        let keys = fresh_keys();
        let raw = [9u8; 16];
        let wrapped = from_b64(&keys.wrap_key(Algorithm::Sm4Gcm, &raw).unwrap()).unwrap();
        assert_eq!(wrapped[0], SEC1_UNCOMPRESSED);
        let bare = to_b64(&wrapped[1..]);
        assert_eq!(
            keys.unwrap_key(Algorithm::Sm4Gcm, &bare).unwrap().key,
            raw.to_vec()
        );
    }
}
