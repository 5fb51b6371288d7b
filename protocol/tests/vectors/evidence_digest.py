#!/usr/bin/env python3
"""Independent evidenceDigest vectors (eth-hash keccak + hashlib sha256), written to
evidence-digest.json next to this script. Definition: identity_hash = keccak256(kind_bit ||
identity_bytes) per kind; evidenceDigest = keccak256(concat identity_hash, ascending kind bit).
Run: python3 protocol/tests/vectors/evidence_digest.py"""
import hashlib, json, os
from eth_hash.auto import keccak

def identity(f):
    kind = f["kind"]
    if kind == "tdx":
        return 1, bytes.fromhex(f["mrtd"]) + b"".join(bytes.fromhex(r) for r in f["rtmr"])
    if kind == "sev-snp":
        return 2, bytes.fromhex(f["measurement"]) + bytes.fromhex(f["chipId"])
    if kind == "nvidia-cc":
        return 4, hashlib.sha256(bytes.fromhex(f["leafCertDer"])).digest()
    if kind == "none":
        return 8, bytes.fromhex(f["provider"][2:])
    raise ValueError(kind)

def digest(ids):
    parts = sorted(identity(i) for i in ids)
    return "0x" + keccak(b"".join(keccak(bytes([bit]) + body) for bit, body in parts)).hex()

tdx = {"kind": "tdx", "mrtd": "11" * 48, "rtmr": ["21" * 48, "22" * 48, "23" * 48, "24" * 48]}
snp = {"kind": "sev-snp", "measurement": "31" * 48, "chipId": "32" * 64}
nv = {"kind": "nvidia-cc", "leafCertDer": "308201" + "ab" * 40}
none = {"kind": "none", "provider": "0x3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E"}
cases = [[none], [tdx], [snp, nv], [nv, tdx], [none, nv, snp, tdx]]
out = {"comment": "evidenceDigest vectors from protocol/tests/vectors/evidence_digest.py (eth-hash)",
       "vectors": [{"identities": c, "evidenceDigest": digest(c)} for c in cases]}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "evidence-digest.json"), "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
