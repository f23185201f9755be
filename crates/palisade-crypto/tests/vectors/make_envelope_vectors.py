#!/usr/bin/env python3
"""Known-answer vectors for Palisade envelopes, computed with libsodium
(PyNaCl) from the format's description, independently of the Rust code.

Format: pal1.<version>.<base64url-nopad(nonce24 || ciphertext || tag16)>,
XChaCha20-Poly1305, associated data =
  b"palisade-envelope-v1" || for f in (tenant, table, column, row): u32be(len f) || f
  || u32be(version)
Run: python3 make_envelope_vectors.py > envelope.json
"""
import base64, json, struct
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt as enc

def aad(tenant, table, column, row, version):
    out = b"palisade-envelope-v1"
    for f in (tenant, table, column, row):
        b = f.encode()
        out += struct.pack(">I", len(b)) + b
    return out + struct.pack(">I", version)

cases = [
    dict(key=bytes(range(32)), nonce=bytes(range(100, 124)), version=1,
         tenant="0123456789ab", table="users", column="email", row="ba9876543210",
         plaintext=b"alice@example.com"),
    dict(key=bytes([0xff] * 32), nonce=bytes(24), version=7,
         tenant="-", table="installation", column="key_check", row="1",
         plaintext=b"palisade keyring check v1"),
    dict(key=bytes([0x42] * 32), nonce=bytes([9] * 24), version=4294967295,
         tenant="a", table="cloud_accounts", column="credentials", row="b",
         plaintext=b""),
    dict(key=bytes([1] * 32), nonce=bytes([2] * 24), version=2,
         tenant="0123456789ab", table="tenant_keys", column="wrapped_key", row="3",
         plaintext=bytes(range(32))),
]
out = []
for c in cases:
    ct = enc(c["plaintext"], aad(c["tenant"], c["table"], c["column"], c["row"], c["version"]),
             c["nonce"], c["key"])
    body = base64.urlsafe_b64encode(c["nonce"] + ct).rstrip(b"=").decode()
    out.append(dict(key=c["key"].hex(), nonce=c["nonce"].hex(), version=c["version"],
                    tenant=c["tenant"], table=c["table"], column=c["column"], row=c["row"],
                    plaintext=c["plaintext"].hex(),
                    envelope=f"pal1.{c['version']}.{body}"))
print(json.dumps(out, indent=2))
