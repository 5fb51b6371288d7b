"""Writes abi/vectors/usage-report.json: EIP-712 UsageReport test vectors computed with
eth-account (Python), an implementation independent of both alloy and the contracts.

    pip install eth-account==0.14.0 && python3 scripts/vectors/usage_report.py
"""
import json
import pathlib

from eth_account.messages import encode_typed_data
from eth_utils import keccak

TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "UsageReport": [
        {"name": "jobId", "type": "uint256"},
        {"name": "provider", "type": "address"},
        {"name": "gpuUuidHash", "type": "bytes32"},
        {"name": "startTs", "type": "uint64"},
        {"name": "endTs", "type": "uint64"},
        {"name": "gpuSeconds", "type": "uint64"},
        {"name": "energyMilliJoules", "type": "uint64"},
        {"name": "avgUtilBps", "type": "uint16"},
        {"name": "evidenceDigest", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
    ],
}

CASES = [
    dict(chainId=412346, market="0x5FbDB2315678afecb367f032d93F642f64180aa3", jobId=1,
         provider="0x3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E",
         gpuUuid="GPU-9a1f3c1e-5d6b-4a7e-9a0e-3c2f1b0d4e5f", startTs=1_764_000_000,
         endTs=1_764_000_600, gpuSeconds=600, energyMilliJoules=420_000_000, avgUtilBps=9_312,
         evidence=b"tdx-quote", nonce=7),
    dict(chainId=421614, market="0x000000000000000000000000000000000000dEaD",
         jobId=2**256 - 1, provider="0x0000000000000000000000000000000000000001",
         gpuUuid="", startTs=0, endTs=2**64 - 1, gpuSeconds=2**64 - 1,
         energyMilliJoules=2**64 - 1, avgUtilBps=10_000, evidence=b"", nonce=2**256 - 1),
]


def vector(c):
    message = {
        "jobId": c["jobId"],
        "provider": c["provider"],
        "gpuUuidHash": keccak(text=c["gpuUuid"]),
        "startTs": c["startTs"],
        "endTs": c["endTs"],
        "gpuSeconds": c["gpuSeconds"],
        "energyMilliJoules": c["energyMilliJoules"],
        "avgUtilBps": c["avgUtilBps"],
        "evidenceDigest": keccak(c["evidence"]),
        "nonce": c["nonce"],
    }
    domain = {"name": "GpuComputeMarket", "version": "1", "chainId": c["chainId"],
              "verifyingContract": c["market"]}
    signable = encode_typed_data(full_message={
        "types": TYPES, "primaryType": "UsageReport", "domain": domain, "message": message})
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    out = {k: (str(v) if isinstance(v, int) else v) for k, v in message.items()}
    out["gpuUuidHash"] = "0x" + message["gpuUuidHash"].hex()
    out["evidenceDigest"] = "0x" + message["evidenceDigest"].hex()
    out.update(chainId=str(c["chainId"]), market=c["market"],
               structHash="0x" + signable.body.hex(), signingDigest="0x" + digest.hex())
    return out


doc = {"comment": "EIP-712 UsageReport vectors from scripts/vectors/usage_report.py (eth-account)",
       "vectors": [vector(c) for c in CASES]}
path = pathlib.Path(__file__).resolve().parents[2] / "abi" / "vectors" / "usage-report.json"
path.write_text(json.dumps(doc, indent=2) + "\n")
print(f"wrote {path}")
