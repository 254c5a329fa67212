"""Azure SDK exceptions -> udroll's error tree (planner.errors), with what the operator should do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError as SdkAzureError,
)
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from planner.errors import (
    AuthenticationError,
    AuthorizationError,
    AzureError,
    NotEligibleError,
    UdrollError,
    VMGoneError,
)

READ_VMS = "Microsoft.Compute/virtualMachines/read"
READ_INSTANCE_VIEW = "Microsoft.Compute/virtualMachines/instanceView/read"
READ_SCALE_SETS = "Microsoft.Compute/virtualMachineScaleSets/read"
READ_SCALE_SET_VMS = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read"
READ_SCALE_SET_VM_INSTANCE_VIEW = (
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read"
)
READ_OPERATIONS = "Microsoft.Compute/locations/operations/read"
PERFORM_VM = "Microsoft.Compute/virtualMachines/performMaintenance/action"
PERFORM_SCALE_SET = "Microsoft.Compute/virtualMachineScaleSets/performMaintenance/action"
PERFORM_SCALE_SET_VM = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/performMaintenance/action"

SIGN_IN_HELP = (
    "sign in with `az login` (then `az account set --subscription ID`), or give udroll an identity "
    "through the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or "
    "AZURE_FEDERATED_TOKEN_FILE), a managed identity, or workload identity"
)


def azure_message(exc: HttpResponseError) -> tuple[str, str]:
    """Azure's error code and message from a CloudError body (falling back to the HTTP reason)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or exc.reason or str(exc).splitlines()[0]
    return str(code), str(message)


def translate(
    exc: BaseException, *, what: str, permission: str, gone: type[AzureError] = VMGoneError
) -> UdrollError:
    """The udroll error for an SDK exception raised while doing ``what`` (which needs ``permission``)."""
    if isinstance(exc, UdrollError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and (exc.response is None or exc.status_code != 403):
        if exc.response is None:  # no credential produced a token: say which were tried
            tried = str(exc.message or exc).strip()
            return AuthenticationError(f"could not sign in to Azure to {what}: {SIGN_IN_HELP}.\n{tried}")
        code, message = azure_message(exc)
        return AuthenticationError(
            f"Azure rejected our token ({_answer(401, code)}) while trying to {what}: {message}. "
            f"Check the tenant and subscription, then {SIGN_IN_HELP}"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        code, message = azure_message(exc)
        if status == 403:
            return AuthorizationError(
                f"not allowed to {what}: the identity needs {permission} ({_answer(403, code)}: {message}). "
                "Grant it a role with that permission (see README: custom role)"
            )
        if status == 409:  # OperationNotAllowed: not eligible now (window, state, already running)
            return NotEligibleError(f"Azure refused to {what} ({_answer(409, code)}): {message}")
        if status == 404:
            return gone(f"not found while trying to {what} ({_answer(404, code)}): {message}")
        if status == 429:
            return AzureError(
                f"Azure kept throttling us while trying to {what} ({_answer(429, code)}): {message}. "
                "Wait a few minutes and try again"
            )
        return AzureError(f"Azure answered {_answer(status, code)} while trying to {what}: {message}")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        hint = ""
        if "CERTIFICATE" in str(exc).upper() or "SSL" in str(exc).upper():
            hint = " (TLS verification failed: pass --ca-bundle PEM for a private endpoint or emulator)"
        return AzureError(f"could not reach Azure Resource Manager to {what}: {exc}{hint}")
    if isinstance(exc, SdkAzureError):
        return AzureError(f"Azure SDK error while trying to {what}: {exc}")
    raise exc


def _answer(status: int, code: str) -> str:
    return f"{status} {code}" if code else str(status)


@contextmanager
def azure_errors(what: str, permission: str, gone: type[AzureError] = VMGoneError) -> Iterator[None]:
    """Run SDK calls and re-raise their failures as udroll errors (exit code 5, no traceback)."""
    try:
        yield
    except SdkAzureError as exc:
        raise translate(exc, what=what, permission=permission, gone=gone) from exc
