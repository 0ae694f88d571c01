#!/bin/bash
# Benchmarks of the ctrlcore controllers inside k8c-server (docs/BENCHMARKS.md, "Controllers"),
# run on demand: tests/bench/ctrl_core_bench.sh <build>/bin [N]
#   nodeipam       N fake Nodes created -> every one has a podCIDR
#   serviceaccount N Namespaces created -> every one has its default ServiceAccount
#   garbage        one owner ConfigMap with N dependent ConfigMaps deleted (Background) -> all gone
# Objects are created by one Python client (python3-kubernetes); each figure is from the first
# create to the last object done, with the create time alone beside it.
set -e
. "$(dirname "$0")/../integration/server_lib.sh" "$1"
N=${2:-1000}
srv_need_pyclient
srv_setup ctrlbench
srv_instance "$D"
export K8C_CONTROLLERS=serviceaccount,nodeipam,garbagecollector
srv_start 31 --cluster-cidr=10.128.0.0/9 --node-cidr-mask-size=24
$PY - "$N" <<'PY'
import sys, time
from kubernetes import client, config
config.load_kube_config()
n = int(sys.argv[1])
core = client.CoreV1Api()

def wait(pred, what):
    while True:
        done = pred()
        if done >= n:
            return
        time.sleep(0.05)

t0 = time.monotonic()
for i in range(n):
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=f"bench-{i}")))
t1 = time.monotonic()
wait(lambda: sum(1 for x in core.list_node().items if x.spec and x.spec.pod_cidr), "podCIDRs")
t2 = time.monotonic()
print(f"nodeipam: {n} nodes created in {t1-t0:.2f} s, all with a podCIDR after {t2-t0:.2f} s")

t0 = time.monotonic()
for i in range(n):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=f"bench-{i}")))
t1 = time.monotonic()
wait(lambda: sum(1 for x in core.list_service_account_for_all_namespaces().items
                 if x.metadata.name == "default" and x.metadata.namespace.startswith("bench-")), "SAs")
t2 = time.monotonic()
print(f"serviceaccount: {n} namespaces created in {t1-t0:.2f} s, all with a default ServiceAccount after {t2-t0:.2f} s")

owner = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bench-owner")))
ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="bench-owner", uid=owner.metadata.uid)
for i in range(n):
    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=f"bench-dep-{i}", owner_references=[ref])))
t0 = time.monotonic()
core.delete_namespaced_config_map("bench-owner", "default")
wait(lambda: n - sum(1 for x in core.list_namespaced_config_map("default").items
                     if x.metadata.name.startswith("bench-dep-")), "gc")
t1 = time.monotonic()
print(f"garbagecollector: owner deleted, its {n} dependents gone after {t1-t0:.2f} s")
PY
srv_stop
