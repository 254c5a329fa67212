"""Continuation tokens are journalled: they must carry no credentials, and udroll never unpickles one.

azure-core before 1.38 wrote a continuation token as a base64 pickle of the first response,
``Authorization: Bearer`` header included, and unpickled it on resume: a journal on a shared jump host
would hold a live token, and a tampered journal would run code. From 1.38 a token is base64 JSON
with the request's headers dropped (only ``x-ms-client-request-id`` is kept) and the response's
filtered. udroll requires such an azure-core, and reads every token as JSON itself before it is
journalled or resumed: one that is not JSON, or that carries an ``Authorization`` header, is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import azure.core

from planner.errors import AzureError, InputError

SAFE_AZURE_CORE = (1, 38)
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-ms-authorization-auxiliary")


def require_safe_azure_core(version: str = azure.core.__version__) -> None:
    """Refuse to talk to Azure with an azure-core whose continuation tokens pickle the bearer token."""
    parts = tuple(int(p) if p.isdigit() else 0 for p in version.split(".")[:2])
    if parts < SAFE_AZURE_CORE:
        raise AzureError(
            f"azure-core {version} writes continuation tokens that contain your Azure access token, "
            "and udroll keeps them in its journal: upgrade with `pip install 'azure-core>=1.38'`"
        )


def check_token(token: Any, what: str) -> str:
    """``token`` if it is a credential-free JSON continuation token; else a clear InputError."""
    if not isinstance(token, str):
        raise InputError(f"the handle of {what} is not a continuation token: read the VM's status instead")
    try:
        data = json.loads(base64.b64decode(token, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InputError(
            f"the handle of {what} is not a continuation token of azure-core 1.38 or later (JSON; "
            "older versions wrote pickles, which udroll never loads): read the VM's status instead"
        ) from None
    if _has_credentials(data):
        raise InputError(
            f"the handle of {what} carries an Authorization header, so udroll neither stores nor "
            "uses it: upgrade azure-core to 1.38 or later, and treat this journal as holding a secret"
        )
    return token


def _has_credentials(node: Any, depth: int = 0) -> bool:
    """Any mapping in the token with a credential header name as a key (case-insensitive)."""
    if depth > 32:
        return True  # no real token nests this deep: treat it as suspect
    if isinstance(node, dict):
        if any(isinstance(k, str) and k.lower() in CREDENTIAL_HEADERS for k in node):
            return True
        return any(_has_credentials(v, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_has_credentials(v, depth + 1) for v in node)
    return False
