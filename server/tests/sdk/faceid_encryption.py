"""Sensitive-field encryption against a running faceid-server, as a Python integration would do it.

Transport and signing: the official Tencent Cloud SDK (tencentcloud-sdk-python-faceid), pointed at
the server by endpoint only. The SDK has no encryption helpers (the official crypto SDK is Java/Go),
so the caller's side is played with other implementations than the server's RustCrypto:
`cryptography` (OpenSSL) for RSA PKCS#1 v1.5, AES-256-CBC and SM4-GCM, `gmssl` for SM2 C1C3C2.
The format follows FaceID's crypto SDK (TencentCloud/faceid-api-crypto-java, CryptoUtil): Base64
everywhere, one IV for all listed fields, one GCM tag per field in TagList, and for
IsEncryptResponse the whole answer in EncryptedBody.

usage: faceid_encryption.py <host:port> <SecretId> <SecretKey>; prints one line per check, exits 0.
"""

import base64
import json
import os
import sys
import urllib.request

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm2
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301 import faceid_client, models

ID_CARD = "11010519491231002X"
NAME = "张三"

host, secret_id, secret_key = sys.argv[1:4]
b64 = lambda b: base64.b64encode(b).decode()
unb64 = base64.b64decode

http_profile = HttpProfile(protocol="http", endpoint=host)
client = faceid_client.FaceidClient(
    credential.Credential(secret_id, secret_key), "ap-guangzhou", ClientProfile(httpProfile=http_profile)
)
keys = json.load(urllib.request.urlopen(f"http://{host}/encryption/public-keys"))
rsa_public = serialization.load_pem_public_key(keys["AES-256-CBC"]["PublicKey"].encode())
# SM2 SubjectPublicKeyInfo: the last 64 bytes of its DER are the point's x and y.
sm2_der = unb64("".join(l for l in keys["SM4-GCM"]["PublicKey"].splitlines() if not l.startswith("-----")))
sm2_public_hex = sm2_der[-64:].hex()


class Aes256Cbc:
    name = "AES-256-CBC"

    def __init__(self):
        self.key = os.urandom(32)

    def blob(self, sec1_prefix):
        return b64(rsa_public.encrypt(self.key, asym_padding.PKCS1v15()))

    def iv(self):
        return os.urandom(16)

    def seal(self, iv, data):
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return enc.update(padder.update(data) + padder.finalize()) + enc.finalize(), None

    def open(self, iv, ciphertext, tag):
        dec = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(dec.update(ciphertext) + dec.finalize()) + unpadder.finalize()


class Sm4Gcm:
    name = "SM4-GCM"

    def __init__(self):
        self.key = os.urandom(16)

    def blob(self, sec1_prefix):
        # gmssl writes C1 as bare x||y; BouncyCastle (FaceID's Java SDK) with the SEC1 04 tag.
        wrapped = sm2.CryptSM2(private_key="", public_key=sm2_public_hex, mode=1).encrypt(self.key)
        return b64((b"\x04" if sec1_prefix else b"") + wrapped)

    def iv(self):
        return os.urandom(12)

    def seal(self, iv, data):
        enc = Cipher(algorithms.SM4(self.key), modes.GCM(iv)).encryptor()
        ciphertext = enc.update(data) + enc.finalize()
        return ciphertext, enc.tag

    def open(self, iv, ciphertext, tag):
        dec = Cipher(algorithms.SM4(self.key), modes.GCM(iv, tag)).decryptor()
        return dec.update(ciphertext) + dec.finalize()


def call(request_type, method, params):
    req = request_type()
    req.from_json_string(json.dumps(params))
    return getattr(client, method)(req)


def opened(algo, encryption, index, value):
    tag = unb64(encryption.TagList[index]) if encryption.TagList else None
    return algo.open(unb64(encryption.Iv), unb64(value), tag).decode()


for algo in (Aes256Cbc(), Sm4Gcm()):
    iv = algo.iv()
    sealed = {field: algo.seal(iv, value.encode()) for field, value in (("IdCard", ID_CARD), ("Name", NAME))}
    params = {field: b64(c) for field, (c, _) in sealed.items()}
    params.update(
        RuleId="1",
        Encryption={
            "EncryptList": list(sealed),
            "CiphertextBlob": algo.blob(sec1_prefix=False),
            "Iv": b64(iv),
            "Algorithm": algo.name,
            "TagList": [b64(t) for _, t in sealed.values() if t is not None],
        },
    )
    token = call(models.DetectAuthRequest, "DetectAuth", params).BizToken
    print(f"{algo.name}: DetectAuth with encrypted IdCard and Name -> BizToken {token[:8]}…")

    response_key = {"CiphertextBlob": algo.blob(sec1_prefix=True), "Algorithm": algo.name}
    plain = call(models.GetDetectInfoEnhancedRequest, "GetDetectInfoEnhanced", {"BizToken": token, "RuleId": "1", "InfoType": "1"})
    assert (plain.Text.IdCard, plain.Text.Name) == (ID_CARD, NAME), plain.to_json_string()
    print(f"{algo.name}: the server decrypted them (plain GetDetectInfoEnhanced)")

    fields = call(
        models.GetDetectInfoEnhancedRequest,
        "GetDetectInfoEnhanced",
        {"BizToken": token, "RuleId": "1", "InfoType": "1", "Encryption": response_key},
    )
    enc = fields.Encryption
    assert list(enc.EncryptList) == ["IdCard", "Name"], fields.to_json_string()
    got = (opened(algo, enc, 0, fields.Text.IdCard), opened(algo, enc, 1, fields.Text.Name))
    assert got == (ID_CARD, NAME), got
    print(f"{algo.name}: Encryption on GetDetectInfoEnhanced -> Text.IdCard/Name decrypted here")

    whole = call(
        models.GetDetectInfoEnhancedRequest,
        "GetDetectInfoEnhanced",
        {"BizToken": token, "RuleId": "1", "InfoType": "1", "IsEncryptResponse": True, "Encryption": response_key},
    )
    body = json.loads(opened(algo, whole.Encryption, 0, whole.EncryptedBody))
    assert (body["Text"]["IdCard"], body["Text"]["Name"]) == (ID_CARD, NAME), body
    print(f"{algo.name}: IsEncryptResponse -> EncryptedBody decrypted here")

print("ok")
