"""Secrets shown once and stored hashed: SDK keys and API tokens share this scheme.

A secret looks like ``fp_srv_<random>`` (server-side SDK key) or ``fp_api_<random>`` (API token):
the prefix tells at a glance what a leaked string is. Only a SHA-256 of the whole secret is
stored; the random part has 256 bits, so a fast hash is enough (no password stretching needed).
"""

import hashlib
import secrets
from typing import NamedTuple

SDK_SERVER_KEY_PREFIX = "fp_srv_"
API_TOKEN_PREFIX = "fp_api_"


class IssuedSecret(NamedTuple):
    plaintext: str
    display_prefix: str
    digest: str


def issue_secret(prefix: str) -> IssuedSecret:
    plaintext = prefix + secrets.token_urlsafe(32)
    return IssuedSecret(plaintext, plaintext[: len(prefix) + 6], hash_secret(plaintext))


def hash_secret(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()
