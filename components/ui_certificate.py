"""Which DNS names a PEM UI certificate covers, and whether one name is among them.

Owns: reading the certificate's subjectAltName DNS entries (``cryptography`` x509) and matching a
host name against them the way browsers do (RFC 6125, section 6.4.3: case-insensitive; a wildcard only as
the whole left-most label, standing for exactly one label: ``*.example.com`` covers
``ce.example.com``, neither ``example.com`` nor ``a.ce.example.com``). The subject's common name is
not consulted: browsers ignore it when a certificate has SANs, and refuse certificates without.

Must not touch: the key file, the network, settings (``settings.py`` turns the answer into a problem).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509


def dns_names(pem_file: str | Path) -> list[str]:
    """The DNS names of the certificate's subjectAltName (empty when it has none).

    Raises ValueError when the file is not a PEM certificate.
    """
    certificate = x509.load_pem_x509_certificate(Path(pem_file).read_bytes())
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(name) for name in extension.value.get_values_for_type(x509.DNSName)]


def covers(pattern: str, host: str) -> bool:
    """Whether one SAN entry covers ``host`` (RFC 6125 one-label wildcard, case-insensitive)."""
    pattern_labels = pattern.rstrip(".").lower().split(".")
    host_labels = host.rstrip(".").lower().split(".")
    if len(pattern_labels) != len(host_labels) or not all(host_labels):
        return False
    head, *rest = pattern_labels
    if head == "*":
        return len(rest) >= 2 and rest == host_labels[1:]
    return pattern_labels == host_labels


def covered_by(names: list[str], host: str) -> bool:
    """Whether any of the certificate's names covers ``host``."""
    return any(covers(name, host) for name in names)
