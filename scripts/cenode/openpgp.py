"""An ASCII-armored OpenPGP public key -> the binary keyring apt's ``signed-by=`` reads.

Owns: what ``gpg --dearmor`` does for one armored public key block (RFC 4880 section 6): the base64 body
between the BEGIN/END lines, its CRC-24 checksum line checked when present, and a first packet
that is a public key (tag 6). No gpg on the node is needed; nothing is trusted that fails these
checks.

Must not touch: anything on the node (pure functions; ``prepare`` writes the keyring).
"""

from __future__ import annotations

import base64
import binascii

BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
END = "-----END PGP PUBLIC KEY BLOCK-----"
PUBLIC_KEY_TAG = 6

_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def crc24(data: bytes) -> int:
    """RFC 4880 section 6.1's CRC-24 of ``data``."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def first_packet_tag(data: bytes) -> int | None:
    """The tag of the first OpenPGP packet (old or new format header), None when it is not one."""
    if not data or not data[0] & 0x80:
        return None
    if data[0] & 0x40:  # new format: tag in the low 6 bits
        return data[0] & 0x3F
    return (data[0] >> 2) & 0x0F  # old format: tag in bits 5-2


def dearmor(text: str) -> bytes:
    """The binary key of the first armored public key block in ``text``; ValueError when there is
    none, its checksum is wrong or it holds no public key."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    try:
        start = lines.index(BEGIN)
        end = lines.index(END, start + 1)
    except ValueError:
        raise ValueError("no ASCII-armored OpenPGP public key block") from None
    body = lines[start + 1 : end]
    if "" in body:  # armor headers (Version:, Comment:) end at the first blank line
        body = body[body.index("") + 1 :]
    checksum = None
    if body and body[-1].startswith("="):
        checksum = body.pop()[1:]
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key block is not valid base64") from None
    if checksum is not None:
        try:
            expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            raise ValueError("the key block's checksum line is not valid base64") from None
        if crc24(data) != expected:
            raise ValueError("the key block's CRC-24 checksum does not match (damaged in transit?)")
    if first_packet_tag(data) != PUBLIC_KEY_TAG:
        raise ValueError("the key block holds no OpenPGP public key")
    return data
