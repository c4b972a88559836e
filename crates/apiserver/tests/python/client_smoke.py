"""The official Kubernetes Python client against Canopy: CRUD, patch, list with selectors, watch.

Usage: client_smoke.py KUBECONFIG. Exits non-zero with a message on the first mismatch.
"""
import sys

from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()

version = client.VersionApi().get_code()
assert version.minor == "32", version

cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"lang": "python"}), data={"a": "1"})
created = core.create_namespaced_config_map("default", cm)
assert created.metadata.uid, created

core.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
got = core.read_namespaced_config_map("py", "default")
assert got.data == {"a": "1", "b": "2"}, got.data

listed = core.list_namespaced_config_map("default", label_selector="lang=python")
assert [c.metadata.name for c in listed.items] == ["py"], listed.items

deploy = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    },
}
apps.create_namespaced_deployment("default", deploy)
apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
assert apps.read_namespaced_deployment("web", "default").spec.replicas == 3

rv = listed.metadata.resource_version
w = watch.Watch()
seen = []
core.delete_namespaced_config_map("py", "default")
for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
    seen.append((event["type"], event["object"].metadata.name))
    if event["type"] == "DELETED":
        w.stop()
assert ("DELETED", "py") in seen, seen

try:
    core.read_namespaced_config_map("py", "default")
    raise AssertionError("deleted object still readable")
except client.exceptions.ApiException as e:
    assert e.status == 404, e

print("python client: ok")
