"""Staying under Azure's request limits (DESIGN §9): client-side token buckets and retries.

Every HTTP request the SDK sends (list pages, instance views, perform-maintenance, long-running
operation polls) passes through one azure-core policy, :class:`PacedRetryPolicy`, which

1. waits for a token from each bucket the request draws on (the documented Compute and Resource
   Manager limits, mirrored so that a large rollout is never throttled, and Compute's throttling
   policies as its answers name them), and lowers a bucket to what Azure says is left
   (``x-ms-ratelimit-remaining-*``: other clients share Azure's buckets), then
2. retries 429 (honouring ``Retry-After``), 5xx and connection errors with jittered exponential
   backoff until an overall deadline.

It replaces azure-core's own ``RetryPolicy`` in the client, so retries never multiply. All waits go
through the injected :class:`executor.run.clock.Clock`: a fake or scaled clock makes them instant.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_result

from executor.run.clock import Clock


class TokenBucket:
    """``capacity`` tokens, refilled at ``per_second``; a request reserves its tokens at once and
    waits until the balance is no longer negative (so waiting callers are served in order)."""

    def __init__(self, capacity: float, per_second: float, clock: Clock):
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._tokens = capacity
        self._at = clock.now()
        self._lock = threading.Lock()

    def reserve(self, count: float = 1.0) -> float:
        """Take ``count`` tokens and return how many seconds to wait before using them."""
        count = min(count, self.capacity)
        with self._lock:
            now = self._clock.now()
            elapsed = max(0.0, (now - self._at).total_seconds())
            self._tokens = min(self.capacity, self._tokens + elapsed * self.per_second)
            self._at = now
            self._tokens -= count
            return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second

    def level(self) -> float:
        """The tokens held now (negative while reserved ones are awaited)."""
        with self._lock:
            elapsed = max(0.0, (self._clock.now() - self._at).total_seconds())
            return min(self.capacity, self._tokens + elapsed * self.per_second)

    def widen(self, capacity: float, per_second: float) -> None:
        """Learn a larger capacity (Azure reported more left than we thought there could be)."""
        with self._lock:
            if capacity > self.capacity:
                self.capacity, self.per_second = capacity, per_second

    def clamp(self, tokens: float) -> None:
        """Hold no more than ``tokens`` (what the server reported left)."""
        with self._lock:
            now = self._clock.now()
            elapsed = max(0.0, (now - self._at).total_seconds())
            self._tokens = min(self.capacity, self._tokens + elapsed * self.per_second, tokens)
            self._at = now


@dataclass(frozen=True)
class Limit:
    capacity: float
    per_second: float


# Documented limits (DESIGN §9). Compute's are per region; pacing them per subscription is stricter.
ARM_READS = Limit(250, 25.0)
ARM_WRITES = Limit(200, 10.0)
LIST_VMS = Limit(900, 300 / 60)
INSTANCE_VIEW_PER_VM = Limit(36, 12 / 60)
PERFORM_MAINTENANCE_PER_VM = Limit(12, 4 / 60)
PERFORM_MAINTENANCE = Limit(1500, 500 / 60)

POLICY_FLOOR = 100  # requests a Compute policy window is assumed to allow at least (see _learn_policies)

_SEGMENT = r"[^/]+"
_VM = rf"/virtualmachines/{_SEGMENT}|/virtualmachinescalesets/{_SEGMENT}/virtualmachines/{_SEGMENT}"
_VM_ACTION = re.compile(
    rf"^(?P<vm>/subscriptions/{_SEGMENT}/resourcegroups/{_SEGMENT}/providers/microsoft\.compute(?:{_VM}))/(?P<action>instanceview|performmaintenance)$"
)
_SCALE_SET_ACTION = re.compile(
    rf"^(?P<ss>/subscriptions/{_SEGMENT}/resourcegroups/{_SEGMENT}/providers/microsoft\.compute/virtualmachinescalesets/{_SEGMENT})/performmaintenance$"
)
_VM_LIST = re.compile(r"/virtualmachines$")


class Pacer:
    """The token buckets of one subscription, keyed as Azure keys them."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self.waits: dict[str, float] = {}  # clock seconds waited, by the bucket that was short
        self._policies: dict[str, set[str]] = {}  # request kind -> Compute policy windows it counts in
        self._in_flight: dict[str, int] = {}  # request kind -> sent, not yet answered

    @property
    def waited_s(self) -> float:
        """Clock seconds waited so far, all buckets."""
        return sum(self.waits.values())

    def _bucket(self, name: str, key: str, limit: Limit) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get((name, key))
            if bucket is None:
                bucket = self._buckets[(name, key)] = TokenBucket(
                    limit.capacity, limit.per_second, self.clock
                )
            return bucket

    def left(self, policy: str) -> float | None:
        """What a Compute policy window (``HighCostGet3Min``) holds now, as last learnt from Azure's
        answers and spent since; None until an answer named it."""
        bucket = self._buckets.get(("policy", policy))
        return None if bucket is None else bucket.level()

    def draws(self, method: str, path: str, body: bytes | None = None) -> list[tuple[TokenBucket, float]]:
        """The buckets (and token counts) one request draws on."""
        return [(bucket, count) for _, bucket, count in self._draws(method, path, body)]

    def _draws(self, method: str, path: str, body: bytes | None) -> list[tuple[str, TokenBucket, float]]:
        path = path.lower().rstrip("/")
        reading = method.upper() in ("GET", "HEAD")
        arm = "reads" if reading else "writes"
        draws = [(arm, self._bucket("arm", arm, ARM_READS if reading else ARM_WRITES), 1.0)]
        match = _VM_ACTION.match(path)
        if match and match["action"] == "instanceview" and reading:
            draws.append(
                ("instance-view", self._bucket("instance-view", match["vm"], INSTANCE_VIEW_PER_VM), 1.0)
            )
        elif match and match["action"] == "performmaintenance" and not reading:
            vm = self._bucket("perform-maintenance", match["vm"], PERFORM_MAINTENANCE_PER_VM)
            draws.append(("perform-maintenance", vm, 1.0))
            draws.append(
                (
                    "perform-maintenance-subscription",
                    self._bucket("perform-maintenance", "", PERFORM_MAINTENANCE),
                    1.0,
                )
            )
        elif (scale_set := _SCALE_SET_ACTION.match(path)) and not reading:
            instances = _instance_ids(body)
            for instance in instances:
                key = f"{scale_set['ss']}/virtualmachines/{instance.lower()}"
                draws.append(
                    (
                        "perform-maintenance (batch)",
                        self._bucket("perform-maintenance", key, PERFORM_MAINTENANCE_PER_VM),
                        1.0,
                    )
                )
            subscription = self._bucket("perform-maintenance", "", PERFORM_MAINTENANCE)
            draws.append(("perform-maintenance-subscription", subscription, float(max(1, len(instances)))))
        elif reading and _VM_LIST.search(path):
            draws.append(("list-vms", self._bucket("list-vms", "", LIST_VMS), 1.0))
        with self._lock:
            learned = sorted(self._policies.get(request_kind(method, path), ()))
        for name in learned:
            bucket = self._buckets.get(("policy", name))
            if bucket is not None:
                draws.append((name, bucket, 1.0))
        return draws

    def acquire(self, method: str, url_path: str, body: bytes | None = None) -> None:
        """Block (on the clock) until the request may be sent without being throttled."""
        waits = [(bucket.reserve(count), name) for name, bucket, count in self._draws(method, url_path, body)]
        wait, name = max(waits)
        if wait > 0:
            self.waits[name] = self.waits.get(name, 0.0) + wait
            self.clock.sleep(wait)
        kind = request_kind(method, url_path)
        with self._lock:
            self._in_flight[kind] = self._in_flight.get(kind, 0) + 1

    def answered(self, method: str, url_path: str) -> None:
        """A request :meth:`acquire` let go has its answer (or failed): no longer in flight."""
        kind = request_kind(method, url_path)
        with self._lock:
            self._in_flight[kind] = max(0, self._in_flight.get(kind, 0) - 1)

    def observe(self, method: str, url_path: str, body: bytes | None, headers: Any) -> None:
        """Learn from ``x-ms-ratelimit-remaining-*`` what Azure has left (other clients share the
        buckets): a bucket never holds more than Azure says remains. Compute's policies are learnt
        from their names, each window its own bucket, so requests of the same kind slow down before
        Azure answers 429."""
        self._learn_policies(method, url_path, headers)
        remaining = _remaining(headers)
        if not remaining:
            return
        for kind, bucket, _ in self._draws(method, url_path, body):
            if kind in remaining:
                bucket.clamp(remaining[kind])

    def _learn_policies(self, method: str, url_path: str, headers: Any) -> None:
        policies = compute_policies(headers)
        if not policies:
            return
        kind = request_kind(method, url_path)
        with self._lock:  # sent after this one reached Azure, maybe: not in what its answer says is left
            in_flight = self._in_flight.get(kind, 0)
        for name, (left, window_s) in policies.items():
            # capacity: at least what is left plus the request just counted; the refill rate assumes
            # at least POLICY_FLOOR a window, so one first seen nearly empty does not stall us for long
            capacity = left + 1
            rate = max(capacity, POLICY_FLOOR) / window_s
            bucket = self._bucket("policy", name, Limit(capacity, rate))
            bucket.widen(capacity, rate)
            bucket.clamp(left - in_flight)
        with self._lock:
            self._policies.setdefault(kind, set()).update(policies)


# Compute names its policies in x-ms-ratelimit-remaining-resource, each in a 3- and a 30-minute window:
# "Microsoft.Compute/HighCostGet3Min;159,Microsoft.Compute/HighCostGet30Min;799" (docs: "Troubleshooting
# throttling errors in Azure"; LowCostGet, HighCostGet, UpdateVM, VMScaleSetActions, GetVMScaleSetVM,
# GetOperation, ...). Any name of that form is understood, so a policy new to udroll is respected too.
_POLICY = re.compile(r"^(?:microsoft\.compute/)?(?P<policy>[a-z0-9]+?)(?P<minutes>\d+)min$", re.IGNORECASE)
_NAMED_SEGMENTS = {
    "subscriptions",
    "resourcegroups",
    "virtualmachines",
    "virtualmachinescalesets",
    "availabilitysets",
    "locations",
    "operations",
}


def compute_policies(headers: Any) -> dict[str, tuple[float, float]]:
    """``{"HighCostGet3Min": (left, window seconds), ...}`` from x-ms-ratelimit-remaining-resource."""
    found: dict[str, tuple[float, float]] = {}
    for item in (headers.get("x-ms-ratelimit-remaining-resource") or "").split(","):
        name, _, left = item.strip().rpartition(";")
        match = _POLICY.match(name.strip())
        if match is None:
            continue
        with contextlib.suppress(ValueError):
            found[f"{match['policy']}{match['minutes']}Min"] = (float(left), int(match["minutes"]) * 60.0)
    return found


def request_kind(method: str, path: str) -> str:
    """A request with its resource names blanked: requests of one kind count in the same policies."""
    parts = path.lower().rstrip("/").split("?")[0].split("/")
    blanked = ["*" if i > 0 and parts[i - 1] in _NAMED_SEGMENTS else p for i, p in enumerate(parts)]
    return f"{method.upper()} {'/'.join(blanked)}"


def _remaining(headers: Any) -> dict[str, float]:
    found: dict[str, float] = {}
    for kind in ("reads", "writes"):
        value = headers.get(f"x-ms-ratelimit-remaining-subscription-{kind}")
        if value is not None:
            with contextlib.suppress(ValueError):
                found[kind] = float(value)
    return found


def _instance_ids(body: bytes | None) -> list[str]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, TypeError):
        return []
    ids = data.get("instanceIds") if isinstance(data, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


@dataclass
class RetrySettings:
    """How hard to try: ``deadline_s`` of clock time per request, at most ``max_attempts`` sends.

    The default suits a rollout, which should outlast a Resource Manager outage of half an hour
    rather than fail a step; interactive commands use :data:`INTERACTIVE` and give up sooner."""

    deadline_s: float = 1800.0
    max_attempts: int = 60
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class RequestStats:
    """What the policy did, for benchmarks and tests (the emulator's log is the ground truth)."""

    sent: int = 0
    retried: int = 0
    throttled: int = 0  # 429 answers received
    server_errors: int = 0  # 5xx answers received
    connection_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)


def retry_after_s(headers: Any, now: dt.datetime) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``x-ms-retry-after-ms``, ``Retry-After``)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


class PacedRetryPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Pace every attempt through the :class:`Pacer`, retry what is worth retrying (see module doc)."""

    def __init__(self, pacer: Pacer, settings: RetrySettings | None = None):
        super().__init__()
        self.pacer = pacer
        self.clock = pacer.clock
        self.speed = float(getattr(self.clock, "speed", 1.0))  # clock seconds per real second
        self.settings = settings or RetrySettings()
        self.stats = RequestStats()

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        idempotent = http.method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        started = self.clock.now()
        settings = self.settings

        def retry_exception(exc: BaseException) -> bool:
            # A request that never left is always safe to resend; one that may have arrived only if
            # resending cannot do anything twice.
            return isinstance(exc, ServiceRequestError) or (
                isinstance(exc, ServiceResponseError) and idempotent
            )

        def stop(state: RetryCallState) -> bool:
            elapsed = (self.clock.now() - started).total_seconds()
            return (
                state.attempt_number >= settings.max_attempts
                or elapsed + state.upcoming_sleep > settings.deadline_s
            )

        retrying = Retrying(
            retry=retry_if_result(self._retry_response) | retry_if_exception(retry_exception),
            wait=self._wait,
            stop=stop,
            sleep=self.clock.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
            # out of time or attempts: hand the last answer to the SDK, which raises its usual error
            retry_error_callback=_last_outcome,
        )
        attempt = functools.partial(self._attempt, request, _path(http.url), _body(http))
        return retrying(attempt)  # type: ignore[no-any-return]

    def _attempt(self, request: PipelineRequest, path: str, body: Any) -> PipelineResponse:  # type: ignore[type-arg]
        """One try: paced, counted, and its rate-limit headers observed."""
        http = request.http_request
        self.pacer.acquire(http.method, path, body)
        self.stats.count(sent=1)
        try:
            response = self.next.send(request)
        except (ServiceRequestError, ServiceResponseError):
            self.stats.count(connection_errors=1)
            raise
        finally:
            self.pacer.answered(http.method, path)
        self.pacer.observe(http.method, path, body, response.http_response.headers)
        status = response.http_response.status_code
        if status == 429:
            self.stats.count(throttled=1)
        elif status >= 500:
            self.stats.count(server_errors=1)
        return response

    def _retry_response(self, response: PipelineResponse) -> bool:  # type: ignore[type-arg]
        return response.http_response.status_code in self.settings.retry_statuses

    def _wait(self, state: RetryCallState) -> float:
        settings = self.settings
        backoff = min(settings.backoff_max_s, settings.backoff_initial_s * 2 ** (state.attempt_number - 1))
        jittered = settings.rng.uniform(backoff / 2, backoff)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            asked = retry_after_s(outcome.result().http_response.headers, _wall_now())
            if asked is not None:  # the server knows when its bucket refills: trust it, spread a little
                asked *= self.speed  # Retry-After counts real seconds; our clock may run faster
                return asked + settings.rng.uniform(0, min(self.speed, asked * 0.1))
        return jittered

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.count(retried=1)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            _drain(outcome.result())


def _wall_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _last_outcome(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # re-raises the last exception, or returns the last response


def _drain(response: PipelineResponse) -> None:  # type: ignore[type-arg]
    with contextlib.suppress(Exception):  # a body we are about to discard may fail to read: fine
        response.http_response.read()


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def _body(http: Any) -> bytes | None:
    content = getattr(http, "content", None)
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    data = getattr(http, "data", None)
    return data if isinstance(data, bytes) else None


INTERACTIVE_DEADLINE_S = 300.0  # `udroll fleet` and `discover`: an operator is waiting


def interactive() -> RetrySettings:
    return RetrySettings(deadline_s=INTERACTIVE_DEADLINE_S, max_attempts=20)
