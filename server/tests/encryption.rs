//! Sensitive-field encryption (PROTOCOL.md §4) over real HTTP: the caller's side is played with
//! the public keys the server publishes and RustCrypto (tests/sdk_encryption.rs plays it with the
//! official Python SDK and other implementations).

mod common;

use common::{empty_report, garbage, TestServer};
use faceid_server::cloud::encryption::{from_b64, to_b64, Algorithm, Sealed, SessionKey};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{json, Value};

const ID_CARD: &str = "11010519491231002X";
const NAME: &str = "张三";

/// The caller's side: a fresh symmetric key, wrapped with the server's published public key.
struct Caller {
    key: SessionKey,
    blob: String,
}

impl Caller {
    async fn new(t: &TestServer, algorithm: Algorithm) -> Caller {
        let keys: Value = t
            .http
            .get(format!("{}/encryption/public-keys", t.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pem = keys[algorithm.name()]["PublicKey"]
            .as_str()
            .unwrap()
            .to_string();
        let raw: Vec<u8> = (0..if algorithm == Algorithm::Aes256Cbc {
            32
        } else {
            16
        })
            .map(|i| i * 7 + 3)
            .collect();
        let wrapped = match algorithm {
            Algorithm::Aes256Cbc => rsa::PublicKey::from_pkcs1_pem(&pem)
                .unwrap()
                .encrypt(&mut getrandom::SysRng, rsa::Pkcs1v15Encrypt, &raw)
                .unwrap(),
            Algorithm::Sm4Gcm => sm2::pke::EncryptingKey::new_with_mode(
                sm2::PublicKey::from_public_key_pem(&pem).unwrap(),
                sm2::pke::Mode::C1C3C2,
            )
            .encrypt(&mut getrandom::SysRng, &raw)
            .unwrap(),
        };
        Caller {
            key: SessionKey::new(algorithm, raw).unwrap(),
            blob: to_b64(&wrapped),
        }
    }

    /// DetectAuth parameters with IdCard and Name encrypted.
    fn detect_auth_params(&self, id_card: &str, name: &str) -> Value {
        let iv = self.key.fresh_iv().unwrap();
        let id = self.key.encrypt(&iv, id_card.as_bytes()).unwrap();
        let nm = self.key.encrypt(&iv, name.as_bytes()).unwrap();
        let tags: Vec<String> = [&id, &nm]
            .iter()
            .filter_map(|s| s.tag.as_deref().map(to_b64))
            .collect();
        json!({
            "RuleId": "1",
            "IdCard": to_b64(&id.ciphertext),
            "Name": to_b64(&nm.ciphertext),
            "Encryption": {
                "EncryptList": ["IdCard", "Name"],
                "CiphertextBlob": self.blob,
                "Iv": to_b64(&iv),
                "Algorithm": self.key.algorithm().name(),
                "TagList": tags,
            }
        })
    }

    /// The Encryption object of a GetDetectInfoEnhanced request (the key for the response).
    fn response_encryption(&self) -> Value {
        json!({ "CiphertextBlob": self.blob, "Algorithm": self.key.algorithm().name() })
    }

    fn open(&self, encryption: &Value, index: usize, ciphertext_b64: &str) -> String {
        let iv = from_b64(encryption["Iv"].as_str().unwrap()).unwrap();
        let tag = encryption["TagList"][index]
            .as_str()
            .map(|t| from_b64(t).unwrap());
        let sealed = Sealed {
            ciphertext: from_b64(ciphertext_b64).unwrap(),
            tag,
        };
        String::from_utf8(self.key.decrypt(&iv, &sealed).unwrap()).unwrap()
    }
}

fn error_code(v: &Value) -> &str {
    v["Response"]["Error"]["Code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn encrypted_fields_round_trip_in_both_algorithms() {
    let t = TestServer::start().await;
    for algorithm in [Algorithm::Aes256Cbc, Algorithm::Sm4Gcm] {
        let caller = Caller::new(&t, algorithm).await;
        let v = t
            .cloud("DetectAuth", caller.detect_auth_params(ID_CARD, NAME))
            .await;
        let token = v["Response"]["BizToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{algorithm:?}: {v}"))
            .to_string();
        let a = t.attempt(&token).await;
        t.upload(&a.attempt_id, garbage(), "video/webm", &empty_report())
            .await;

        // Decrypted on arrival: stored and returned as plain text to a plain request.
        let plain = t.detect_info(&token, "1").await;
        assert_eq!(
            (
                plain["Text"]["IdCard"].as_str(),
                plain["Text"]["Name"].as_str()
            ),
            (Some(ID_CARD), Some(NAME)),
            "{plain}"
        );
        assert_eq!(plain["Encryption"], Value::Null);

        // Encryption in the request: IdCard and Name (also in LivenessDetail) come back encrypted.
        let params = json!({ "BizToken": token, "RuleId": "1", "InfoType": "1", "Encryption": caller.response_encryption() });
        let r = t.cloud("GetDetectInfoEnhanced", params).await["Response"].clone();
        let enc = &r["Encryption"];
        assert_eq!(enc["EncryptList"], json!(["IdCard", "Name"]), "{r}");
        assert_eq!(enc["Algorithm"], algorithm.name());
        let (id, name) = (
            r["Text"]["IdCard"].as_str().unwrap(),
            r["Text"]["Name"].as_str().unwrap(),
        );
        assert_ne!(id, ID_CARD);
        assert_eq!(
            (caller.open(enc, 0, id), caller.open(enc, 1, name)),
            (ID_CARD.to_string(), NAME.to_string())
        );
        assert_eq!(
            r["Text"]["LivenessDetail"][0]["Idcard"].as_str(),
            Some(id),
            "{r}"
        );

        // IsEncryptResponse: the whole answer in EncryptedBody.
        let params = json!({ "BizToken": token, "RuleId": "1", "InfoType": "1", "IsEncryptResponse": true, "Encryption": caller.response_encryption() });
        let r = t.cloud("GetDetectInfoEnhanced", params).await["Response"].clone();
        assert_eq!(r["Text"], Value::Null, "{r}");
        assert_eq!(r["Encryption"]["EncryptList"], json!(["EncryptedBody"]));
        let body: Value = serde_json::from_str(&caller.open(
            &r["Encryption"],
            0,
            r["EncryptedBody"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(body["Text"]["IdCard"], ID_CARD, "{body}");
        assert_eq!(body["Text"]["LivenessDetail"][0]["Errcode"], 1104, "{body}");
    }
}

#[tokio::test]
async fn what_cannot_be_decrypted_or_is_not_supported_is_refused() {
    let t = TestServer::start().await;
    let caller = Caller::new(&t, Algorithm::Sm4Gcm).await;
    // A changed tag (the ciphertext was tampered with or the key is another).
    let mut params = caller.detect_auth_params(ID_CARD, NAME);
    params["Encryption"]["TagList"][0] = json!(to_b64(&[0u8; 16]));
    assert_eq!(
        error_code(&t.cloud("DetectAuth", params).await),
        "InvalidParameter"
    );
    // A blob wrapped for some other server.
    let mut params = caller.detect_auth_params(ID_CARD, NAME);
    params["Encryption"]["CiphertextBlob"] = json!(to_b64(&[1u8; 113]));
    let v = t.cloud("DetectAuth", params).await;
    assert_eq!(error_code(&v), "InvalidParameter", "{v}");
    assert!(
        v["Response"]["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("cannot be decrypted"),
        "{v}"
    );
    // A field FaceID's DetectAuth does not take encrypted, and an unknown algorithm.
    let mut params = caller.detect_auth_params(ID_CARD, NAME);
    params["Encryption"]["EncryptList"] = json!(["IdCard", "Extra"]);
    assert_eq!(
        error_code(&t.cloud("DetectAuth", params).await),
        "InvalidParameter.UnsupportEncryptField"
    );
    let mut params = caller.detect_auth_params(ID_CARD, NAME);
    params["Encryption"]["Algorithm"] = json!("SM4-CBC");
    assert_eq!(
        error_code(&t.cloud("DetectAuth", params).await),
        "InvalidParameter"
    );
    // Decrypted values are checked like plain ones: a wrong check digit stays a bad value.
    let params = caller.detect_auth_params("110105194912310020", NAME);
    assert_eq!(
        error_code(&t.cloud("DetectAuth", params).await),
        "InvalidParameterValue"
    );
    // IsEncryptResponse needs a key to encrypt with.
    let token = t.detect_auth(json!({})).await;
    let v = t
        .cloud(
            "GetDetectInfoEnhanced",
            json!({ "BizToken": token, "RuleId": "1", "IsEncryptResponse": true }),
        )
        .await;
    assert_eq!(error_code(&v), "InvalidParameter", "{v}");
}

#[tokio::test]
async fn the_public_keys_are_published_and_survive_a_restart() {
    let t = TestServer::start().await;
    let fetch = |t: &TestServer, path: &'static str| {
        let url = format!("{}{path}", t.base);
        let http = t.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let rsa = fetch(&t, "/encryption/rsa-public-key.pem").await;
    let sm2 = fetch(&t, "/encryption/sm2-public-key.pem").await;
    assert!(rsa.starts_with("-----BEGIN RSA PUBLIC KEY-----"), "{rsa}");
    assert!(sm2.starts_with("-----BEGIN PUBLIC KEY-----"), "{sm2}");
    let t = t.restart().await;
    assert_eq!(fetch(&t, "/encryption/rsa-public-key.pem").await, rsa);
    assert_eq!(fetch(&t, "/encryption/sm2-public-key.pem").await, sm2);
}
