"""Connecting to Azure Resource Manager (DESIGN §8 "Azure options").

Credentials come only from azure-identity's DefaultAzureCredential (az login, environment, managed
identity, workload identity). ``--cloud`` picks the Resource Manager endpoint, the credential scope and
the sign-in authority of the public, China or US Government cloud; ``--endpoint``/``--ca-bundle`` point
at any other Resource Manager; ``--emulator READY_FILE`` at a running ``udroll emulator serve``.

Commands use it like this::

    @cli.command()
    @azure_options
    @click.pass_obj
    def fleet(obj, azure: AzureOptions) -> None:
        backend = connect(azure, clock=clock_from(obj))
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from executor.run.clock import Clock, ScaledClock, SystemClock
from planner.errors import AuthenticationError, InputError

if TYPE_CHECKING:  # the Azure SDK takes half a second to import: only when connecting (not `plan`)
    from azure.core.credentials import AccessToken, TokenCredential

    from executor.azure.backend import AzureBackend
    from executor.azure.pacing import RetrySettings

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_POLLING_INTERVAL = 30.0  # clock seconds between looks at an operation (the SDK's default)
EMULATOR_POLLING_INTERVAL = 15.0  # simulated seconds: 25 ms at 600x


@dataclass(frozen=True)
class Cloud:
    resource_manager: str
    scope: str
    authority: str


CLOUDS = {
    "public": Cloud(
        "https://management.azure.com",
        "https://management.azure.com/.default",
        "login.microsoftonline.com",
    ),
    "china": Cloud(
        "https://management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn/.default",
        "login.chinacloudapi.cn",
    ),
    "usgov": Cloud(
        "https://management.usgovcloudapi.net",
        "https://management.core.usgovcloudapi.net/.default",
        "login.microsoftonline.us",
    ),
}


@dataclass(frozen=True)
class AzureOptions:
    """What the Azure command-line options said (None: not given)."""

    subscription: str | None = None
    cloud: str = "public"
    endpoint: str | None = None
    ca_bundle: str | None = None
    emulator: str | None = None
    api_version: str | None = None


@dataclass(frozen=True)
class EmulatorInfo:
    """The ready file a running emulator writes: JSON {base_url, ca_bundle, subscription, speed, epoch}."""

    base_url: str
    ca_bundle: str
    subscription: str
    speed: float
    epoch: dt.datetime | None
    started: float  # wall-clock time the file was written (its mtime): where simulated time began


def azure_options(command: F) -> F:
    """Add --subscription, --cloud, --endpoint, --ca-bundle and --emulator; pass them as ``azure``."""

    @click.option(
        "--subscription",
        metavar="ID",
        help="Subscription to work in (default: the spec's, else AZURE_SUBSCRIPTION_ID; the emulator's).",
    )
    @click.option(
        "--cloud",
        type=click.Choice(sorted(CLOUDS)),
        default="public",
        show_default=True,
        help="Azure cloud: its Resource Manager endpoint, token scope and sign-in authority.",
    )
    @click.option(
        "--endpoint",
        metavar="URL",
        help="Another Resource Manager (e.g. Azure Stack Hub): its token audience is read from its "
        "/metadata/endpoints.",
    )
    @click.option(
        "--api-version",
        metavar="VERSION",
        help="Compute API version to send (e.g. 2020-06-01 for an Azure Stack Hub profile).",
    )
    @click.option(
        "--ca-bundle",
        type=click.Path(exists=True, dir_okay=False),
        metavar="PEM",
        help="CA certificates to trust for --endpoint.",
    )
    @click.option(
        "--emulator",
        type=click.Path(dir_okay=False),
        metavar="READY_FILE",
        help="Talk to a running `udroll emulator serve` (its ready file: endpoint, CA, subscription).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        subscription: str | None,
        cloud: str,
        endpoint: str | None,
        ca_bundle: str | None,
        emulator: str | None,
        api_version: str | None,
        **kwargs: Any,
    ) -> Any:
        kwargs["azure"] = AzureOptions(subscription, cloud, endpoint, ca_bundle, emulator, api_version)
        # azure-identity logs each failed sign-in as a warning; our error already says it all
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def read_ready_file(path: str | Path) -> EmulatorInfo:
    """Read an emulator's ready file, or say how to start one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        started = Path(path).stat().st_mtime
    except OSError as exc:
        raise InputError(
            f"cannot read emulator ready file {path}: {exc.strerror}. Start one with "
            f"`udroll emulator serve --spec plans/three-tier-shop.yaml --ready-file {path}`"
        ) from None
    try:
        data = json.loads(text)
        epoch = data.get("epoch")
        return EmulatorInfo(
            base_url=str(data["base_url"]),
            ca_bundle=str(data["ca_bundle"]),
            subscription=str(data["subscription"]),
            speed=float(data.get("speed") or 1.0),
            epoch=dt.datetime.fromisoformat(epoch.replace("Z", "+00:00")) if isinstance(epoch, str) else None,
            started=started,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path} is not an emulator ready file "
            f"(JSON with base_url, ca_bundle, subscription, speed, epoch): {exc}"
        ) from None


def emulator_clock(info: EmulatorInfo) -> Clock:
    """The emulator's simulated time, seen from another process: asked from its clock endpoint, or
    (if that fails) counted from when it wrote its ready file, at ``speed``."""
    now = _emulator_now(info)
    if now is None:
        if info.epoch is None:
            return SystemClock()
        behind = max(0.0, dt.datetime.now(dt.timezone.utc).timestamp() - info.started) * info.speed
        now = info.epoch + dt.timedelta(seconds=behind)
    return ScaledClock(now, info.speed)


def _emulator_now(info: EmulatorInfo) -> dt.datetime | None:
    url = f"{info.base_url}/_emulator/clock"  # cheap, unlike /state with every VM
    try:
        context = ssl.create_default_context(cafile=info.ca_bundle)
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            now = json.load(answer).get("now")
        return dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    except (OSError, ValueError, AttributeError):
        return None


class _EmulatorCredential:
    """The emulator accepts any bearer token; the SDK still wants a TokenCredential. (Not the one in
    executor.emulator: importing that package costs half a second of start-up for a client.)"""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken("udroll-emulator", int(time.time()) + 3600)

    def close(self) -> None:
        pass


def _emulator_credential() -> TokenCredential:
    return _EmulatorCredential()


def connect(
    options: AzureOptions | None = None,
    *,
    default_subscription: str | None = None,
    clock: Clock | None = None,
    polling_interval: float | None = None,
    retry: RetrySettings | None = None,
) -> AzureBackend:
    """An AzureBackend for the given options. No request is sent until the backend is used."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import DefaultAzureCredential

    from executor.azure.endpoints import read_metadata

    options = options or AzureOptions()
    if options.emulator:
        info = read_ready_file(options.emulator)
        return connect_emulator(
            info.base_url,
            info.ca_bundle,
            options.subscription or default_subscription or info.subscription,
            _emulator_credential(),
            clock=clock or emulator_clock(info),
            polling_interval=polling_interval or EMULATOR_POLLING_INTERVAL,
            retry=retry,
            api_version=options.api_version,
        )
    subscription = options.subscription or default_subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not subscription:
        raise InputError(
            "no subscription: pass --subscription ID, set AZURE_SUBSCRIPTION_ID, or name one in the spec"
        )
    cloud = CLOUDS[options.cloud]
    if options.endpoint:
        _https_only(options.endpoint)
    endpoint = (options.endpoint or cloud.resource_manager).rstrip("/")
    scope, authority = cloud.scope, cloud.authority
    if options.endpoint:  # its audience (and sign-in host) from its metadata, never a guess
        metadata = read_metadata(endpoint, options.ca_bundle)
        scope, authority = metadata.scope, metadata.authority or authority
    try:
        credential = DefaultAzureCredential(authority=authority)
    except (ValueError, ClientAuthenticationError) as exc:  # e.g. a bad AZURE_TOKEN_CREDENTIALS value
        raise AuthenticationError(f"cannot set up Azure sign-in: {exc}") from None
    return _backend(
        endpoint,
        subscription,
        credential,
        scope=scope,
        ca_bundle=options.ca_bundle,
        clock=clock or SystemClock(),
        polling_interval=polling_interval or DEFAULT_POLLING_INTERVAL,
        retry=retry,
        api_version=options.api_version,
    )


def _https_only(endpoint: str) -> None:
    """Refuse a plain-http or host-less --endpoint at once (the SDK would retry it for minutes, since
    it never sends a bearer token over http)."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise InputError(
            f"--endpoint {endpoint!r} is not an https:// URL: Resource Manager is only reached over "
            "HTTPS (write https://HOST; pass --ca-bundle for a private CA)"
        )


def connect_emulator(
    base_url: str,
    ca_bundle: str,
    subscription: str,
    credential: TokenCredential,
    *,
    clock: Clock | None = None,
    polling_interval: float = EMULATOR_POLLING_INTERVAL,
    retry: RetrySettings | None = None,
    api_version: str | None = None,
) -> AzureBackend:
    """An AzureBackend for an emulator: its HTTPS endpoint, its test CA and a dummy credential."""
    return _backend(
        base_url.rstrip("/"),
        subscription,
        credential,
        scope="https://management.azure.com/.default",
        ca_bundle=ca_bundle,
        clock=clock or SystemClock(),
        polling_interval=polling_interval,
        retry=retry,
        api_version=api_version,
    )


def _backend(
    endpoint: str,
    subscription: str,
    credential: TokenCredential,
    *,
    scope: str,
    ca_bundle: str | None,
    clock: Clock,
    polling_interval: float,
    retry: RetrySettings | None,
    api_version: str | None = None,
) -> AzureBackend:
    from azure.mgmt.compute import ComputeManagementClient

    from executor.azure.backend import AzureBackend
    from executor.azure.endpoints import ApiVersionPolicy
    from executor.azure.pacing import PacedRetryPolicy, Pacer
    from executor.azure.tokens import require_safe_azure_core

    require_safe_azure_core()
    policy = PacedRetryPolicy(Pacer(clock), retry)
    kwargs: dict[str, Any] = {
        "credential_scopes": [scope],
        "retry_policy": policy,  # replaces azure-core's RetryPolicy: one retry loop, paced
        "retry_total": 0,  # (ignored with our policy in place; belt and braces should a caller drop it)
        # the SDK sleeps real seconds between its own polls: the same interval, seen from the clock
        "polling_interval": polling_interval / float(getattr(clock, "speed", 1.0)),
    }
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    if api_version:
        kwargs["per_call_policies"] = [ApiVersionPolicy(api_version)]
    client = ComputeManagementClient(credential, subscription, base_url=endpoint, **kwargs)
    return AzureBackend(
        client, subscription, clock=clock, policy=policy, polling_interval=polling_interval, endpoint=endpoint
    )


def injected_clock(obj: Any) -> Clock | None:
    """A clock injected through the click context (``obj.clock`` or ``obj["clock"]``), if any."""
    return obj.get("clock") if isinstance(obj, dict) else getattr(obj, "clock", None)


def clock_from(obj: Any) -> Clock:
    """The clock a command should use: the injected one, else real time."""
    return injected_clock(obj) or SystemClock()


def backend_from(obj: Any) -> AzureBackend | None:
    """A backend injected through the click context (tests), if any."""
    backend = obj.get("backend") if isinstance(obj, dict) else getattr(obj, "backend", None)
    return backend  # type: ignore[no-any-return]


def for_emulator(
    emulator: Any, *, polling_interval: float = 15.0, clock: Clock | None = None
) -> AzureBackend:
    """A backend for an in-process :class:`executor.emulator.Emulator` (tests, ``run --simulate``)."""
    return connect_emulator(
        emulator.base_url,
        emulator.ca_bundle,
        emulator.subscription,
        emulator.credential,
        clock=clock or emulator.clock,
        polling_interval=polling_interval,
    )
