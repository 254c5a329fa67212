"""The simulated application health endpoint of each VM: ``GET /_health/<token>``.

The token is the url-safe base64 of the VM's lower-case ARM id, so a URL names one VM and nothing
else. The answer is ``200 {"status": "ok", "vm": name}`` when :meth:`World.health` says the simulated
application is up, else ``503`` with the reason as ``status``; an unknown token is ``404``. See the
package docstring for how a simulating runner points a spec's checks at it.
"""

from __future__ import annotations

import base64
import datetime as dt

from executor.emulator.messages import Response, json_response
from executor.emulator.world import World


def health_token(vm_id: str) -> str:
    return base64.urlsafe_b64encode(vm_id.lower().encode()).decode().rstrip("=")


def vm_of_token(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def health_answer(world: World, token: str, now: dt.datetime) -> Response:
    vm_id = vm_of_token(token)
    with world.lock:
        sim = world.find(vm_id) if vm_id else None
        if sim is None:
            return json_response(404, {"status": "unknown VM"})
        healthy, why = world.health(sim, now)
    response = json_response(200 if healthy else 503, {"status": why, "vm": sim.vm.name})
    response.vm = sim.id
    return response
