"""Where a run lives in Azure Storage: ``--journal`` URLs, and the clients that reach them.

Two URL forms name a run (RUN may contain slashes)::

    https://ACCOUNT.blob.core.windows.net/CONTAINER/RUN            Azure (virtual-host style)
    http://127.0.0.1:10000/devstoreaccount1/CONTAINER/RUN          Azurite, or any path-style endpoint

A URL with a query string carries a SAS token, used as is. Otherwise the credentials are the
``AZURE_STORAGE_CONNECTION_STRING`` environment variable when set (the Azure SDK's convention; how
Azurite is reached), else DefaultAzureCredential (a pipeline's OIDC login, a managed identity, `az login`).
A missing container is created.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from planner.errors import InputError

CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
_CONTAINER = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class BlobLocation:
    account_url: str  # scheme://host[:port][/account] without a trailing slash
    container: str
    run: str  # the blob-name prefix of the run
    sas: str = ""

    @property
    def url(self) -> str:
        return f"{self.account_url}/{self.container}/{self.run}"

    def blob(self, name: str) -> str:
        return f"{self.run}/{name}"


def _path_style(host: str) -> bool:
    if host in ("localhost",) or "." not in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_location(url: str) -> BlobLocation:
    """A ``--journal`` URL split into account, container and run (InputError naming the expected form)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    path_style = _path_style(parts.hostname or "")
    base = f"{parts.scheme}://{parts.netloc}"
    if path_style and segments:
        base, segments = f"{base}/{segments[0]}", segments[1:]
    if parts.scheme not in ("http", "https") or not parts.hostname or len(segments) < 2:
        raise InputError(
            f"--journal {url}: expected https://ACCOUNT.blob.core.windows.net/CONTAINER/RUN "
            "(or http://127.0.0.1:10000/devstoreaccount1/CONTAINER/RUN for Azurite)"
        )
    if not _CONTAINER.fullmatch(segments[0]) or "--" in segments[0]:
        raise InputError(
            f"--journal {url}: container {segments[0]!r} is not a valid name: 3-63 lower-case letters, "
            "digits and single hyphens, starting with a letter or digit"
        )
    return BlobLocation(base, segments[0], "/".join(segments[1:]), parts.query)


def service_client(location: BlobLocation) -> BlobServiceClient:
    """A client for the location's account: its SAS, else the connection string, else Entra ID."""
    if location.sas:
        return BlobServiceClient(f"{location.account_url}?{location.sas}")
    connection = os.environ.get(CONNECTION_STRING)
    if connection:
        client = BlobServiceClient.from_connection_string(connection)
        if client.url.rstrip("/").lower() != location.account_url.lower():
            raise InputError(
                f"{CONNECTION_STRING} reaches {client.url.rstrip('/')} but --journal names "
                f"{location.account_url}: unset it to sign in with Entra ID, or use its account's URL"
            )
        return client
    if not location.account_url.startswith("https://"):
        raise InputError(
            f"--journal {location.url}: signing in with Entra ID needs https; for Azurite set "
            f"{CONNECTION_STRING} (or add a SAS token to the URL)"
        )
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(location.account_url, credential=DefaultAzureCredential())


def container_client(location: BlobLocation, create: bool = False) -> ContainerClient:
    """The run's container (created when missing if ``create``: readers need no write access)."""
    container = service_client(location).get_container_client(location.container)
    if create:
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
    return container
