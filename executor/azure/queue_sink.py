"""Azure Storage queues for notifications (executor.notify): send an event, read answers.

The queue is named by its URL, ``https://ACCOUNT.queue.core.windows.net/QUEUE`` (or Azurite's
path-style ``http://127.0.0.1:PORT/ACCOUNT/QUEUE``). Credentials: the account key or SAS of the
connection string in ``AZURE_STORAGE_CONNECTION_STRING`` when it is set (the URL still says where),
else DefaultAzureCredential (needs the "Storage Queue Data Message Sender/Processor" role).

No retries here: the notifier retries sends itself (tenacity) and polls answers again anyway.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

CONNECTION_ENV = "AZURE_STORAGE_CONNECTION_STRING"

__all__ = ["CONNECTION_ENV", "AzureError", "QueueMessage", "StorageQueue"]


@dataclass(frozen=True)
class QueueMessage:
    text: str  # decoded: base64 when it was base64 of UTF-8 text, else as stored
    handle: Any


def _credential(url_account: str) -> Any:
    text = os.environ.get(CONNECTION_ENV, "")
    if not text:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    if parts.get("AccountKey"):
        return {"account_name": parts.get("AccountName", url_account), "account_key": parts["AccountKey"]}
    if parts.get("SharedAccessSignature"):
        return parts["SharedAccessSignature"]
    raise ValueError(f"{CONNECTION_ENV} has neither AccountKey nor SharedAccessSignature")


def _decode(raw: str) -> str:
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return raw


class StorageQueue:
    """One queue, by URL; ``base64`` encodes what it sends the way Event Grid does."""

    def __init__(self, url: str, base64_encoded: bool = True, timeout: float = 10.0):
        account_url, _, name = url.rstrip("/").rpartition("/")
        account = (account_url.rsplit("/", 1)[-1] if account_url.count("/") > 2 else "").strip()
        account = account or account_url.split("//", 1)[-1].split(".", 1)[0]
        self.url = url
        self._client = QueueClient(
            account_url,
            name,
            credential=_credential(account),
            message_encode_policy=TextBase64EncodePolicy() if base64_encoded else None,
            retry_total=0,
            connection_timeout=timeout,
            read_timeout=timeout,
        )

    def send(self, text: str) -> None:
        self._client.send_message(text)

    def receive(self, limit: int = 32, hide_for: int = 1) -> list[QueueMessage]:
        """Messages now visible; the ones not deleted come back after ``hide_for`` seconds."""
        found = self._client.receive_messages(max_messages=limit, visibility_timeout=hide_for)
        return [QueueMessage(_decode(str(m.content)), m) for m in found]

    def delete(self, message: QueueMessage) -> None:
        self._client.delete_message(message.handle)

    def create(self) -> None:
        """For tests and `udroll notify test`: a queue that exists already is fine."""
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._client.create_queue()

    def close(self) -> None:
        self._client.close()
