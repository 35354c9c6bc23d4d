"""C2PA provenance (optional): sign clips offline with the operator's ES256 certificate, and check them.

`zaobot c2pa init` makes a self-signed test chain (root CA + signing certificate);
operators with a real certificate point ZAOBOT_C2PA_CERT / ZAOBOT_C2PA_KEY at it.
Validation trusts the root in ZAOBOT_C2PA_TRUST (the test root by default).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from zaobot.config import Settings

log = logging.getLogger(__name__)

SOFTWARE_AGENT = "zaobot"
DIGITAL_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def make_test_chain(directory: Path, organisation: str = "zaobot test operator") -> tuple[Path, Path, Path]:
    """Write root.pem, chain.pem (signing cert + root) and signer.key (ES256). For testing only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} root CA")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} C2PA signer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(root_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    root_path, chain_path, key_path = directory / "root.pem", directory / "chain.pem", directory / "signer.key"
    root_path.write_bytes(root.public_bytes(pem))
    chain_path.write_bytes(cert.public_bytes(pem) + root.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return root_path, chain_path, key_path


def manifest_definition(job_id: str, provider: str) -> dict:
    return {
        "claim_generator_info": [{"name": SOFTWARE_AGENT, "version": "0.1"}],
        "title": f"AI-generated face swap ({job_id})",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE,
                "softwareAgent": {"name": SOFTWARE_AGENT},
                "parameters": {"description": f"face swap by {provider}, job {job_id}"}}]}},
            {"label": "org.zaobot.job", "data": {"job_id": job_id, "provider": provider, "ai_generated": True}},
        ],
    }


def sign_clip(src: Path, dst: Path, job_id: str, settings: Settings) -> bool:
    """Embed a signed C2PA manifest when an operator certificate is configured; False when not."""
    if not (settings.c2pa_cert and settings.c2pa_key):
        return False
    import c2pa

    info = c2pa.C2paSignerInfo(b"es256", Path(settings.c2pa_cert).read_bytes(), Path(settings.c2pa_key).read_bytes(),
                               None)
    with c2pa.Signer.from_info(info) as signer, \
            c2pa.Builder(json.dumps(manifest_definition(job_id, settings.provider))) as builder:
        builder.sign_file(str(src), str(dst), signer)
    return True


def sign_in_place(path: Path, job_id: str, settings: Settings) -> bool:
    """Replace `path` by its C2PA-signed copy when a certificate is configured."""
    signed = path.with_name(path.stem + ".c2pa" + path.suffix)
    try:
        if not sign_clip(path, signed, job_id, settings):
            return False
        signed.replace(path)
        return True
    finally:
        signed.unlink(missing_ok=True)


def c2pa_status(path: Path, settings: Settings) -> str:
    """"valid (trusted signer: ...)", "invalid: ...", or "no manifest"."""
    try:
        import c2pa
    except ImportError:
        return "unavailable (c2pa-python not installed)"
    trust = settings.c2pa_trust or (Path(settings.c2pa_cert).with_name("root.pem") if settings.c2pa_cert else None)
    config: dict = {"verify": {"verify_trust": bool(trust), "remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust and Path(trust).is_file():
        config["trust"] = {"trust_anchors": Path(trust).read_text()}
    try:
        with c2pa.Context(c2pa.Settings.from_dict(config)) as context, \
                c2pa.Reader("video/mp4", open(path, "rb"), context=context) as reader:
            state = reader.get_validation_state()
            report = json.loads(reader.json())
    except Exception as exc:  # noqa: BLE001 - no manifest, or one that can't be parsed
        message = str(exc)
        if "ManifestNotFound" in message or "no JUMBF" in message.lower() or "not found" in message.lower():
            return "no manifest"
        return f"invalid: {message[:200]}"
    active = report.get("manifests", {}).get(report.get("active_manifest", ""), {})
    failures = [s.get("code") for s in (report.get("validation_status") or [])]
    if state in ("Trusted", "Valid") and not failures:
        return f"{state.lower()} (signed by {active.get('signature_info', {}).get('issuer', '?')})"
    return f"invalid: {state} {', '.join(str(f) for f in failures)[:200]}"
