#!/usr/bin/python3
"""The walk-through's Python client step (scripts/walkthrough, step 13), with Debian's
python3-kubernetes against the cluster: list the pods, create a Service, read its Endpoints,
roll the web Deployment and watch the rollout to its end. Usage: walkthrough-client.py KUBECONFIG
"""
import sys
import time

from kubernetes import client, config, watch

NS = "course"


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def main():
    config.load_kube_config(config_file=sys.argv[1])
    core = client.CoreV1Api()
    apps = client.AppsV1Api()

    pods = core.list_namespaced_pod(NS, label_selector="app=web").items
    live = sorted(p.metadata.name for p in pods if p.metadata.deletion_timestamp is None)
    dep = apps.read_namespaced_deployment("web", NS)
    if len(live) != dep.spec.replicas:
        fail("list_namespaced_pod app=web: %d pods, the Deployment wants %d" % (len(live), dep.spec.replicas))
    print("list pods app=web: %s" % " ".join(live))

    try:
        core.delete_namespaced_service("web-py", NS)
    except client.exceptions.ApiException as e:
        if e.status != 404:
            raise
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="web-py"),
        spec=client.V1ServiceSpec(selector={"app": "web"},
                                  ports=[client.V1ServicePort(name="http", port=81, target_port="http")]))
    svc = core.create_namespaced_service(NS, svc)
    print("created Service web-py, ClusterIP %s" % svc.spec.cluster_ip)

    ips = set(p.status.pod_ip for p in pods if p.metadata.deletion_timestamp is None)
    got = set()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            ep = core.read_namespaced_endpoints("web-py", NS)
            got = set(a.ip for s in (ep.subsets or []) for a in (s.addresses or []))
            if got == ips:
                break
        except client.exceptions.ApiException as e:
            if e.status != 404:
                raise
        time.sleep(0.25)
    if got != ips:
        fail("Endpoints web-py: %s, the pods are %s" % (sorted(got), sorted(ips)))
    print("Endpoints web-py: %s" % " ".join(sorted(got)))

    # a rollout: a new template, then a watch until every replica is updated and available
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "VERSION", "value": "python"}]}]}}}}
    dep = apps.patch_namespaced_deployment("web", NS, patch)
    gen = dep.metadata.generation
    print("patched Deployment web (VERSION=python), generation %d; watching" % gen)
    w = watch.Watch()
    events = 0
    done = False
    for ev in w.stream(apps.list_namespaced_deployment, NS, field_selector="metadata.name=web",
                       timeout_seconds=120):
        events += 1
        d = ev["object"]
        s = d.status
        want = d.spec.replicas
        if ((s.observed_generation or 0) >= gen and s.updated_replicas == want and
                s.available_replicas == want and s.replicas == want):
            done = True
            w.stop()
    if not done:
        fail("the rollout of web did not finish within 120 s (%d watch events)" % events)
    print("rollout of web done after %d watch event(s)" % events)
    core.delete_namespaced_service("web-py", NS)
    print("deleted Service web-py")


if __name__ == "__main__":
    main()
