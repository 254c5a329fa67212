"""Another Resource Manager (``--endpoint``: Azure Stack Hub, a sovereign cloud): its token audience and
sign-in authority from its metadata, and ``--api-version`` for a Compute API version it supports.

Resource Manager publishes ``GET {endpoint}/metadata/endpoints?api-version=...`` without sign-in: Azure
Stack Hub answers one object (``authentication.audiences``, ``authentication.loginEndpoint``), Azure's
public Resource Manager a list of clouds (each with ``resourceManager`` and the same ``authentication``).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from planner.errors import AzureError

METADATA_API_VERSION = "2022-09-01"


@dataclass(frozen=True)
class EndpointMetadata:
    scope: str  # the token scope: the endpoint's audience + /.default
    authority: str | None  # the sign-in host, when the metadata names one


def read_metadata(
    endpoint: str, ca_bundle: str | None, api_version: str = METADATA_API_VERSION
) -> EndpointMetadata:
    """The token scope and authority ``endpoint`` publishes; AzureError (exit 5) when it cannot be read."""
    url = f"{endpoint.rstrip('/')}/metadata/endpoints?api-version={api_version}"
    try:
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
        with urllib.request.urlopen(url, context=context, timeout=30) as answer:
            data = json.load(answer)
        return _parse(data, endpoint)
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise AzureError(
            f"cannot read the token audience of --endpoint {endpoint} from {url}: {exc}. Check the URL "
            "(and --ca-bundle), or use --cloud for Azure's public, China or US Government cloud"
        ) from None


def _parse(data: Any, endpoint: str) -> EndpointMetadata:
    if isinstance(data, list):  # Azure's list of clouds: the one whose Resource Manager this is
        wanted = endpoint.rstrip("/").lower()
        data = next(
            (c for c in data if str(c.get("resourceManager", "")).rstrip("/").lower() == wanted), data[0]
        )
    auth = data["authentication"]
    audience = str(auth["audiences"][0]).rstrip("/")
    login = auth.get("loginEndpoint")
    return EndpointMetadata(f"{audience}/.default", urlsplit(login).netloc if login else None)


class ApiVersionPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Send every Compute request with ``api-version`` set to the one given (``--api-version``)."""

    def __init__(self, api_version: str):
        super().__init__()
        self.api_version = api_version

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http = request.http_request
        parts = urlsplit(http.url)
        if "/providers/microsoft.compute/" not in parts.path.lower():
            return  # another provider's call on the Compute pipeline (udroll check's permissions)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "api-version"]
        query.append(("api-version", self.api_version))
        http.url = urlunsplit(parts._replace(query=urlencode(query, safe="$'/")))
