"""Connection options and their failures, through the CLI (click's CliRunner and the main() boundary)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from backend_support import EPOCH, mixed_fleet
from click.testing import CliRunner

from executor.azure.connect import CLOUDS, AzureOptions, connect, connect_emulator, read_ready_file
from executor.azure.pacing import RetrySettings
from executor.cli.main import cli, main
from planner.errors import AuthenticationError, AzureError, InputError

_IDENTITY_ENV = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
)


@pytest.fixture
def no_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """DefaultAzureCredential limited to the environment credential, with nothing in the environment
    (no az CLI, no managed identity probe: fast and the same on every machine)."""
    for name in _IDENTITY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")


@pytest.mark.e2e
@pytest.mark.usefixtures("no_identity")
def test_no_credential_says_how_to_sign_in(make_emulator: Callable[..., Any]) -> None:
    """Without any identity, `udroll fleet` fails with AuthenticationError (exit 5): az login, what was tried."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    args = [
        "fleet",
        "--endpoint",
        emu.base_url,
        "--ca-bundle",
        emu.ca_bundle,
        "--subscription",
        emu.subscription,
    ]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, AuthenticationError)
    assert result.exception.exit_code == 5
    message = str(result.exception)
    assert "az login" in message and "EnvironmentCredential" in message
    # nothing was sent to Resource Manager without a token (only the anonymous metadata was read)
    assert [r["path"].split("?")[0] for r in emu.requests()] == ["/metadata/endpoints"]


@pytest.mark.e2e
@pytest.mark.usefixtures("no_identity")
def test_no_credential_exits_5_without_traceback(
    make_emulator: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The main() boundary prints `Error: could not sign in …` and exits 5."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "discover",
                "--endpoint",
                emu.base_url,
                "--ca-bundle",
                emu.ca_bundle,
                "--subscription",
                emu.subscription,
            ]
        )
    assert exit_.value.code == 5
    err = capsys.readouterr().err
    assert err.startswith("Error: could not sign in to Azure") and "Traceback" not in err


@pytest.mark.e2e
def test_untrusted_certificate_names_ca_bundle(make_emulator: Callable[..., Any]) -> None:
    """An endpoint whose certificate we do not trust fails with exit 5 and a hint about --ca-bundle."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    backend = connect_emulator(
        emu.base_url,
        "",
        emu.subscription,
        emu.credential,
        clock=emu.clock,
        retry=RetrySettings(max_attempts=1),
    )
    with pytest.raises(AzureError, match="--ca-bundle") as err:
        backend.list_vms(["rg-data"])
    assert err.value.exit_code == 5


def test_missing_subscription_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --subscription, no spec subscription, no AZURE_SUBSCRIPTION_ID: exit 2 saying what to pass."""
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(InputError, match="--subscription") as err:
        connect(AzureOptions())
    assert err.value.exit_code == 2


def test_subscription_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """--subscription beats the spec's, which beats AZURE_SUBSCRIPTION_ID."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "from-env")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    assert connect(AzureOptions()).subscription == "from-env"
    assert connect(AzureOptions(), default_subscription="from-spec").subscription == "from-spec"
    assert (
        connect(AzureOptions(subscription="from-flag"), default_subscription="from-spec").subscription
        == "from-flag"
    )


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_clouds_pick_endpoint_and_scope(cloud: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """--cloud sets the Resource Manager endpoint and the token scope (no request is sent)."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    backend = connect(AzureOptions(subscription="s", cloud=cloud))
    assert backend.endpoint == CLOUDS[cloud].resource_manager
    assert backend.client._config.credential_scopes == [CLOUDS[cloud].scope]


@pytest.mark.e2e
def test_custom_endpoint_scope(monkeypatch: pytest.MonkeyPatch, make_emulator: Callable[..., Any]) -> None:
    """--endpoint asks for a token for the audience the endpoint's /metadata/endpoints names."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    backend = connect(AzureOptions(subscription="s", endpoint=emu.base_url + "/", ca_bundle=emu.ca_bundle))
    assert backend.client._config.credential_scopes == ["https://management.udroll-emulator.local/.default"]


def test_an_unreachable_endpoint_says_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """An --endpoint whose metadata cannot be read is an Azure error (exit 5) naming the URL."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    with pytest.raises(AzureError, match="metadata/endpoints") as err:
        connect(AzureOptions(subscription="s", endpoint="https://management.invalid/"))
    assert err.value.exit_code == 5


def test_bad_ready_file_is_an_input_error(tmp_path: Any) -> None:
    """A missing or malformed ready file exits 2 and says how to start an emulator."""
    with pytest.raises(InputError, match="udroll emulator serve"):
        read_ready_file(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"base_url": 1}')
    with pytest.raises(InputError, match="not an emulator ready file"):
        read_ready_file(bad)


@pytest.mark.e2e
def test_emulator_ready_file_brings_its_clock(make_emulator: Callable[..., Any], tmp_path: Any) -> None:
    """--emulator READY takes endpoint, CA, subscription and the emulator's simulated time from it."""
    emu = make_emulator(mixed_fleet(), epoch=EPOCH)
    ready = tmp_path / "emu.json"
    emu.write_ready_file(ready)
    backend = connect(AzureOptions(emulator=str(ready)))
    assert backend.subscription == emu.subscription
    assert abs((backend.clock.now() - emu.clock.now()).total_seconds()) < 120  # 0.2 s at 600x
    assert len(backend.list_vms()) == len(mixed_fleet().vms)
