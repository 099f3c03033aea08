"""Write the signing keys the forged-token tests use (test-only, never deployed):
moto's Cognito signing key as PEM (to sign tokens that are valid but for one flaw, such as
an expired `exp`), and a fresh RSA key that no JWKS trusts."""
import base64
import gzip
import json
import pathlib
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def main(moto_jwks: str, out_dir: str) -> None:
    raw = pathlib.Path(moto_jwks).read_bytes()
    if moto_jwks.endswith(".gz"):
        raw = gzip.decompress(raw)
    jwk = json.loads(raw)
    jwk = jwk["keys"][0] if "keys" in jwk else jwk
    n, e, d = b64int(jwk["n"]), b64int(jwk["e"]), b64int(jwk["d"])
    p, q = rsa.rsa_recover_prime_factors(n, e, d)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n),
    )
    out = pathlib.Path(out_dir)
    (out / "moto-signing-key.pem").write_bytes(pem(numbers.private_key()))
    (out / "moto-signing-kid").write_text(jwk.get("kid", "dummy"))
    (out / "untrusted-key.pem").write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
