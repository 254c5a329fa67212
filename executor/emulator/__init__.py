"""A local Resource Manager Compute emulator the real azure-mgmt-compute client cannot tell from Azure.

It is the embedded default behind ``udroll run --simulate`` and the fixture of the end-to-end tests
(DESIGN §10)::

    from executor.emulator import Emulator

    with Emulator(fleet, speed=600.0, epoch=None, clock=None, faults=None, log_path=None) as emu:
        client = ComputeManagementClient(emu.credential, emu.subscription, base_url=emu.base_url,
                                         connection_verify=emu.ca_bundle, polling_interval=0.05)
        emu.requests()          # the request log so far (list of dicts, see executor.emulator.log)
        emu.state()             # per-VM power/maintenance/operation/health (GET /_emulator/state)
                                # GET /_emulator/clock: {"now", "epoch", "speed"} of the simulated clock
        emu.health_url(vm_id)   # the VM's application health endpoint

Attributes: ``base_url`` (``https://127.0.0.1:<port>``), ``ca_bundle`` (the test CA's PEM: pass it as
``connection_verify``), ``subscription`` (of the fleet's VM ids), ``clock`` (a ScaledClock(epoch,
speed) unless one was injected: ``--speed 600`` makes a real second ten simulated minutes),
``credential`` (a dummy TokenCredential), ``epoch`` and ``speed``; ``ready_info()`` and
``write_ready_file(path)`` give what ``udroll emulator serve --ready-file`` writes.

Modules: :mod:`~executor.emulator.faults` (the faults file and simulation knobs, ``load_faults(path)
-> Faults``), :mod:`~executor.emulator.world` (resources and the maintenance state machine in
simulated time), :mod:`~executor.emulator.routes` (the Compute routes and long-running operations),
:mod:`~executor.emulator.api` (faults, auth, throttling and logging around the routes),
:mod:`~executor.emulator.throttle` (token buckets), :mod:`~executor.emulator.shapes` (ARM JSON),
:mod:`~executor.emulator.health`, :mod:`~executor.emulator.log` (the request log),
:mod:`~executor.emulator.server` (HTTPS and the in-process :class:`Emulator`),
:mod:`~executor.emulator.fleets` (synthetic fleets for tests and benchmarks).

Application health in simulation
--------------------------------
Each VM has an HTTPS endpoint, ``emu.health_url(vm.id)`` =
``https://127.0.0.1:<port>/_health/<url-safe base64 of the lower-case VM id>``, served with the same
test CA. It answers ``200 {"status": "ok", ...}`` when the simulated application is up and ``503``
with a reason (``rebooting``, ``stopped``, ``warming up``, ``unhealthy``, ``flapping``) while the VM is
down for maintenance, for ``health_warmup`` (default 1 simulated minute) after it is back, and as
the VM's faults say (``health: never | flapping | slow``, ``warmup``). A spec's checks name real
hosts (``https://{name}.shop.internal/healthz``, ``tcp: …:5432``, commands), which do not exist in a
simulation: the simulating runner replaces each VM's checks with one http check of its health URL
(``status: [200]``; a ``body`` regex such as ``'"status":\\s*"ok"'`` still matches), verified with
``emu.ca_bundle``. Health probes are logged (``kind: health``) but never throttled or faulted like ARM.
"""

from executor.emulator.faults import Faults, VMFaults, load_faults
from executor.emulator.server import Emulator, EmulatorCredential

__all__ = ["Emulator", "EmulatorCredential", "Faults", "VMFaults", "load_faults"]
