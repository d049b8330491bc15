"""An in-memory Kubernetes API server (kmock) on 127.0.0.1 for the agent's
Kubernetes tests.

Prints its port on the first line of stdout, then serves until stdin closes.
Every write gets the next numeric metadata.resourceVersion (kube-rs watches
need one; kmock itself keeps none), every create a creationTimestamp and a
uid. Served: pods and services (v1), daemonsets (apps/v1), leases
(coordination.k8s.io/v1), inferencepools (inference.networking.k8s.io/v1),
kvlbpools (kvlb.dev/v1alpha1) and GIE's inferenceobjectives
(inference.networking.x-k8s.io/v1alpha2). llm-d's
InferenceObjective group (llm-d.ai) is left out on purpose: its CRD is
absent, as on a cluster without llm-d.

kmock ignores label and field selectors: the agent must filter pods by node
itself, which the tests then check.
"""

import asyncio
import datetime
import itertools
import sys
import uuid

try:
    import kmock
except ImportError:
    sys.exit("kmock_server.py: kmock is missing from the test venv: run `cargo xtask setup`")

RESOURCES = [
    "v1/pods",
    "v1/services",
    "apps/v1/daemonsets",
    "coordination.k8s.io/v1/leases",
    "inference.networking.k8s.io/v1/inferencepools",
    "inference.networking.x-k8s.io/v1alpha2/inferenceobjectives",
    "kvlb.dev/v1alpha1/kvlbpools",
]


class VersionedEmulator(kmock.KubernetesEmulator):
    """kmock's emulator, stamping a resourceVersion on every write and a
    creationTimestamp and uid on every create, as an API server does."""

    _versions = itertools.count(100)

    async def _handle(self, request):
        if request.action in (kmock.action.CREATE, kmock.action.UPDATE) and isinstance(request.data, dict):
            metadata = request.data.setdefault("metadata", {})
            metadata["resourceVersion"] = str(next(self._versions))
            if request.action == kmock.action.CREATE:
                metadata.setdefault("creationTimestamp", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                metadata.setdefault("uid", str(uuid.uuid4()))
        return await super()._handle(request)


async def main() -> None:
    async with VersionedEmulator() as api, kmock.Server(api) as server:
        for resource in RESOURCES:
            api.resources[resource] = kmock.ResourceInfo()
        print(server.port, flush=True)
        # Serve until the test closes stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
