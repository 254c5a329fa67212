"""Compute's and Resource Manager's documented token buckets (DESIGN §9), refilled in simulated time.

A request takes one token from each bucket it touches; when any is empty the request is refused
with 429 and nothing is taken. Buckets refill on the emulator's clock, not the wall clock: the runner
paces itself on the same (scaled) clock, so a runner that respects the documented rates in its own
time is never throttled, whatever the speed, and one that exceeds them is throttled at any speed.
``Retry-After`` is converted to real seconds (rounded up, at least 1), because that is the clock the
client's retry policy sleeps on.

Every answer carries the remaining tokens: ``x-ms-ratelimit-remaining-resource`` for Compute's
policies, both windows (``Microsoft.Compute/LowCostGet3Min;3999,Microsoft.Compute/LowCostGet30Min;31999``) and
``x-ms-ratelimit-remaining-subscription-reads`` / ``-writes`` for Resource Manager's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    name: str  # as Azure names the policy in its headers
    capacity: int
    per_second: float  # refill rate, in tokens per simulated second
    header: str  # "resource", "reads" or "writes"; "" for a bucket no header names


def policy(limits: tuple[Limit, Limit], key: str) -> list[tuple[Limit, str]]:
    """Both windows of one Compute policy, for ``Throttle.take``."""
    return [(limit, key) for limit in limits]


# Compute's throttling policies as its headers name them, each in a 3-minute and a 30-minute window
# (docs: "Troubleshooting throttling errors in Azure": x-ms-ratelimit-remaining-resource
# "Microsoft.Compute/HighCostGet3Min;159,Microsoft.Compute/HighCostGet30Min;799"). Capacities as seen
# in headers: VMScaleSetActions 240/1200 and GetOperation 15000/30000 in Azure/azure-sdk-for-python's
# recording test_compute_vmss_perform_maintenance, HighCostGet 160/800 in the docs; the others are
# assumptions of the same order. Keyed per subscription (Azure: per subscription and region).
def _policy(name: str, three_min: int, thirty_min: int) -> tuple[Limit, Limit]:
    return (
        Limit(f"Microsoft.Compute/{name}3Min", three_min, three_min / 180, "resource"),
        Limit(f"Microsoft.Compute/{name}30Min", thirty_min, thirty_min / 1800, "resource"),
    )


LOW_COST_GET = _policy("LowCostGet", 4000, 32000)  # GET of one VM, its instance view
HIGH_COST_GET = _policy("HighCostGet", 160, 800)  # lists of VMs and scale sets
UPDATE_VM = _policy("UpdateVM", 240, 1200)  # actions on one VM (performMaintenance)
VM_SCALE_SET_ACTIONS = _policy("VMScaleSetActions", 240, 1200)  # actions on scale sets and instances
GET_VM_SCALE_SET_VM = _policy("GetVMScaleSetVM", 3000, 15000)  # scale set instances: get, list, view
GET_OPERATION = _policy("GetOperation", 15000, 30000)  # long-running operation status

# Per-VM guards of this project's DESIGN §9, enforced but not named in headers (Azure names none).
PERFORM_MAINTENANCE_VM = Limit("PerformMaintenancePerVM", 12, 4 / 60, "")
INSTANCE_VIEW_VM = Limit("InstanceViewPerVM", 36, 12 / 60, "")
ARM_READS = Limit("ARM/SubscriptionReads", 250, 25.0, "reads")
ARM_WRITES = Limit("ARM/SubscriptionWrites", 200, 10.0, "writes")


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    updated: dt.datetime

    def refill(self, now: dt.datetime) -> None:
        elapsed = (now - self.updated).total_seconds()
        if elapsed > 0:
            self.tokens = min(float(self.limit.capacity), self.tokens + elapsed * self.limit.per_second)
            self.updated = now

    def wait(self) -> float:
        """Simulated seconds until one token is there."""
        return max(0.0, (1.0 - self.tokens) / self.limit.per_second)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0  # simulated seconds
    limit: Limit | None = None  # the bucket that ran dry


@dataclass
class Throttle:
    """All buckets, created on first use. Not thread-safe: the caller holds the world's lock."""

    enabled: bool = True
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def take(self, wanted: list[tuple[Limit, str]], now: dt.datetime) -> Decision:
        """Take one token from each ``(limit, key)`` bucket, or none if any is empty."""
        if not self.enabled:
            return Decision(True, {})
        buckets = [self._bucket(limit, key, now) for limit, key in wanted]
        dry = [b for b in buckets if b.tokens < 1.0]
        if not dry:
            for bucket in buckets:
                bucket.tokens -= 1.0
        headers = _headers(buckets)
        if dry:
            worst = max(dry, key=lambda b: b.wait())
            return Decision(False, headers, worst.wait(), worst.limit)
        return Decision(True, headers)

    def _bucket(self, limit: Limit, key: str, now: dt.datetime) -> _Bucket:
        bucket = self._buckets.get((limit.name, key))
        if bucket is None:
            bucket = self._buckets[(limit.name, key)] = _Bucket(limit, float(limit.capacity), now)
        bucket.refill(now)
        return bucket


def _headers(buckets: list[_Bucket]) -> dict[str, str]:
    headers: dict[str, str] = {}
    resource = [f"{b.limit.name};{int(b.tokens)}" for b in buckets if b.limit.header == "resource"]
    if resource:
        headers["x-ms-ratelimit-remaining-resource"] = ",".join(resource)
    for b in buckets:
        if b.limit.header in ("reads", "writes"):
            headers[f"x-ms-ratelimit-remaining-subscription-{b.limit.header}"] = str(int(b.tokens))
    return headers
