"""Secrets never reach a page: API keys and credentials are masked in every piece of metadata shown.

Policy and judge specs, run configs and options are JSON written by code that should keep keys out of
them, but a spec built by hand (``extra={"api_key": ...}``) or a base URL with credentials in it would
otherwise be printed on the page; this masks them before anything is rendered.
"""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "(hidden)"
# Mapping keys whose values are secrets, whatever they hold (``api_key``, ``hf_token``, ``client_secret``;
# not ``max_tokens``).
SECRET_KEY = re.compile(
    r"^(.*[_-])?(api[_-]?key|key|secret|token|password|passwd|authorization|credentials?)$", re.I
)
# Credentials inside strings: URL user info, key-like query parameters, bearer tokens, provider keys.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_QUERY_SECRET = re.compile(r"(?P<key>[?&](?:api[_-]?key|key|token|access_token|secret)=)[^&#\s]+", re.I)
_BEARER = re.compile(r"(?P<key>bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.I)
_PROVIDER_KEY = re.compile(r"\b(?:sk|pk|rk|hf|gsk|xai)[-_][A-Za-z0-9_-]{16,}")


def redact_text(text: str) -> str:
    """``text`` with credentials in it masked."""
    text = _URL_USERINFO.sub(rf"\g<scheme>{HIDDEN}@", text)
    text = _QUERY_SECRET.sub(rf"\g<key>{HIDDEN}", text)
    text = _BEARER.sub(rf"\g<key>{HIDDEN}", text)
    return _PROVIDER_KEY.sub(HIDDEN, text)


def redact(value: Any) -> Any:
    """A copy of JSON-like ``value`` with secret-named keys' values and credentials in strings masked."""
    if isinstance(value, dict):
        return {k: HIDDEN if SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
