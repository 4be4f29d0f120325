"""k8s/, checked offline: every object against the Kubernetes (1.33) and KubeRay (v1.6) schemas, then secrets,
network policies, the RayJob's job file and the kustomization."""

from __future__ import annotations

import copy
import re
import shlex

import jsonschema
import pytest
import yaml

from tests.deploy.files import (K8S, KUBERNETES_VERSION, NOT_APPLIED, ROOT, SECRET_NAME, all_pods, containers,
                                example_secrets, k8s_documents, k8s_objects, kustomization, validate_k8s)
from tests.deploy.netpol import Pod, ingress_allowed

NAMESPACE = "trainworks"
DOCUMENTS = k8s_documents(applied_only=False)


@pytest.mark.parametrize("doc", [doc for _, doc in DOCUMENTS],
                         ids=[f"{name}:{doc['kind']}/{doc['metadata']['name']}" for name, doc in DOCUMENTS])
def test_object_fits_its_schema(doc: dict) -> None:
    validate_k8s(doc)


@pytest.mark.parametrize(("kind", "path", "typo"), [
    ("RayCluster", ["spec", "workerGroupSpecs", 0], "grupName"),
    ("RayCluster", ["spec", "headGroupSpec", "template", "spec", "containers", 0], "imagee"),
    ("RayJob", ["spec"], "entryPoint"),
    ("RayJob", ["spec", "submitterPodTemplate", "spec", "containers", 0, "env", 1, "valueFrom"], "secretRef"),
    ("Deployment", ["spec", "template", "spec", "containers", 0], "comand"),
    ("NetworkPolicy", ["spec"], "podSelectors"),
])
def test_the_schemas_reject_a_misspelt_field(kind: str, path: list, typo: str) -> None:
    doc = copy.deepcopy(k8s_objects(kind)[0])
    node = doc
    for part in path:
        node = node[part]
    node[typo] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate_k8s(doc)


def test_the_kuberay_schema_checks_values_not_only_names() -> None:
    cluster = copy.deepcopy(k8s_objects("RayCluster")[0])
    cluster["spec"]["authOptions"]["mode"] = "tokens"
    with pytest.raises(jsonschema.ValidationError, match="tokens"):
        validate_k8s(cluster)
    cluster["spec"]["authOptions"]["mode"] = "token"
    del cluster["spec"]["headGroupSpec"]
    with pytest.raises(jsonschema.ValidationError, match="headGroupSpec"):
        validate_k8s(cluster)


def test_kustomization_lists_every_manifest_and_nothing_else() -> None:
    listed = kustomization()["resources"]
    on_disk = {path.name for path in K8S.glob("*.yaml")} - NOT_APPLIED
    assert sorted(listed) == sorted(on_disk)
    assert len(listed) == len(set(listed))
    assert kustomization()["namespace"] == NAMESPACE


def test_everything_lives_in_the_trainworks_namespace() -> None:
    assert {doc["metadata"]["name"] for doc in k8s_objects("Namespace")} == {NAMESPACE}
    for name, doc in k8s_documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, (name, doc["metadata"]["name"])


def test_no_secret_is_applied_and_the_example_holds_no_value() -> None:
    assert k8s_objects("Secret") == []
    examples = [doc for doc in yaml.safe_load_all((K8S / "secret.example.yaml").read_text()) if doc]
    assert examples and all("data" not in doc for doc in examples)
    for doc in examples:
        for key, value in doc["stringData"].items():
            if SECRET_NAME.search(key):
                assert value == "", f"{doc['metadata']['name']}.{key} has a value"


def all_env() -> list[tuple[str, dict]]:
    return [(f"{where}/{container['name']}", entry) for where, spec, _ in all_pods()
            for container in containers(spec) for entry in container.get("env", [])]


def test_every_secret_is_read_through_a_secret_key_ref_that_the_example_defines() -> None:
    secrets = example_secrets()
    refs = []
    for where, entry in all_env():
        if SECRET_NAME.search(entry["name"]):
            assert "value" not in entry, f"{where}: {entry['name']} is written in the manifest"
            assert set(entry["valueFrom"]) == {"secretKeyRef"}, f"{where}: {entry['name']}"
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in secrets[ref["name"]], f"{where}: {ref}"
            refs.append((ref["name"], ref["key"]))
    used = set(refs) | {(k8s_objects("RayCluster")[0]["spec"]["authOptions"]["secretName"], "auth_token")}
    assert used == {(name, key) for name, data in secrets.items() for key in data}  # none unused, none missing
    for where, spec, _ in all_pods():
        for container in containers(spec):
            assert all("secretRef" not in source for source in container.get("envFrom", [])), where
        assert all("secret" not in volume for volume in spec.get("volumes", [])), where


def test_the_config_map_holds_no_secret() -> None:
    for doc in k8s_objects("ConfigMap"):
        assert not [key for key in doc["data"] if SECRET_NAME.search(key)], doc["metadata"]["name"]
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", str(doc["data"])), doc["metadata"]["name"]


def test_pods_run_unprivileged_with_resource_limits_and_pinned_images() -> None:
    for where, spec, _ in all_pods():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] != 0, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        needs_token = where == "ray head" and ray_cluster()["spec"]["enableInTreeAutoscaling"]  # the autoscaler
        assert spec.get("automountServiceAccountToken") is needs_token, where
        for container in containers(spec):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert re.fullmatch(r"[\w./-]+:[\w.-]*\d[\w.-]*", container["image"]), (where, container["image"])


def ray_cluster() -> dict:
    return k8s_objects("RayCluster")[0]


def test_ray_cluster_has_a_head_a_cpu_group_and_a_gpu_group() -> None:
    spec = ray_cluster()["spec"]
    groups = {group["groupName"]: group for group in spec["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    gpu = groups["gpu"]["template"]["spec"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["image"].startswith("trainworks-cuda:")
    assert "nvidia.com/gpu" not in str(groups["cpu"]) and "nvidia.com/gpu" not in str(spec["headGroupSpec"])
    for group in groups.values():
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert spec["headGroupSpec"]["serviceType"] == "ClusterIP"


def test_ray_cluster_uses_token_authentication_from_a_secret() -> None:
    auth = ray_cluster()["spec"]["authOptions"]
    assert auth == {"mode": "token", "secretName": "trainworks-ray-auth"}
    assert "auth_token" in example_secrets()[auth["secretName"]]
    submitter = k8s_objects("RayJob")[0]["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in submitter["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": auth["secretName"], "key": "auth_token"}


def test_every_ray_node_logs_to_mlflow_and_shares_the_checkpoint_volume() -> None:
    for where, spec, labels in all_pods():
        if "ray.io/node-type" not in labels:
            continue
        container = spec["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": "trainworks-env"}}], where
        names = {entry["name"] for entry in container["env"]}
        assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= names, where
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert volumes[mounts["/shared"]]["persistentVolumeClaim"]["claimName"] == "trainworks-checkpoints", where
    claim = next(doc for doc in k8s_objects("PersistentVolumeClaim")
                 if doc["metadata"]["name"] == "trainworks-checkpoints")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_cluster_never_holds_the_mlflow_admin_password() -> None:
    for where, entry in all_env():
        ref = entry.get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("key", "").startswith("admin-"):
            assert where.startswith(("mlflow/", "mlflow-account/")), where


def test_rayjob_runs_the_quick_start_from_the_config_map_mounted_on_the_head() -> None:
    from trainworks.spec import load_spec

    job = k8s_objects("RayJob")[0]["spec"]
    assert job["clusterSelector"] == {"ray.io/cluster": ray_cluster()["metadata"]["name"]}
    command = shlex.split(job["entrypoint"])
    assert command[:3] == ["trainworks", "run", "/jobs/quickstart.yaml"]
    head = ray_cluster()["spec"]["headGroupSpec"]["template"]["spec"]
    mount = next(m for m in head["containers"][0]["volumeMounts"] if m["mountPath"] == "/jobs")
    config_map = next(v for v in head["volumes"] if v["name"] == mount["name"])["configMap"]["name"]
    data = next(doc for doc in k8s_objects("ConfigMap") if doc["metadata"]["name"] == config_map)["data"]
    assert data["quickstart.yaml"] == (ROOT / "jobs" / "quickstart.yaml").read_text()  # byte for byte
    overrides = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
    assert overrides == ["checkpoint.storage_path=/shared/checkpoints"]
    spec = load_spec(ROOT / "jobs" / "quickstart.yaml", overrides)
    assert spec.checkpoint.storage_path == "/shared/checkpoints"


def test_mlflow_is_authenticated_serves_s3_artifacts_and_answers_to_its_service_name() -> None:
    deployment = next(doc for doc in k8s_objects("Deployment") if doc["metadata"]["name"] == "mlflow")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["command"]
    assert args[:2] == ["mlflow", "server"]
    assert {"--app-name=basic-auth", "--serve-artifacts", "--artifacts-destination=s3://trainworks/mlflow"} <= set(args)
    env = {entry["name"]: entry for entry in container["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == (
        "postgresql+psycopg2://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@postgres:5432/mlflow")
    names = list(env)
    assert names.index("POSTGRES_PASSWORD") < names.index("MLFLOW_BACKEND_STORE_URI")  # $(VAR) needs it first
    config = next(doc for doc in k8s_objects("ConfigMap") if doc["metadata"]["name"] == "trainworks-env")["data"]
    client_host = config["MLFLOW_TRACKING_URI"].removeprefix("http://")
    allowed = next(a for a in args if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    assert client_host in allowed and "127.0.0.1:5000" in allowed  # else 403 to the cluster / port-forward
    service = next(doc for doc in k8s_objects("Service") if doc["metadata"]["name"] == client_host.split(":")[0])
    assert service["spec"]["ports"][0]["port"] == int(client_host.split(":")[1])


def test_postgres_is_a_statefulset_with_a_headless_service_and_a_volume_claim() -> None:
    statefulset = next(doc for doc in k8s_objects("StatefulSet") if doc["metadata"]["name"] == "postgres")
    service = next(doc for doc in k8s_objects("Service")
                   if doc["metadata"]["name"] == statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    claims = statefulset["spec"]["volumeClaimTemplates"]
    mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert any(m["name"] == claims[0]["metadata"]["name"] and m["mountPath"] == "/var/lib/postgresql/data"
               for m in mounts)


# --- network policies: who may open which port, evaluated on the pods these manifests make ---

POLICIES = k8s_objects("NetworkPolicy")


def pod(where_prefix: str) -> Pod:
    labels = next(labels for where, _, labels in all_pods() if where.startswith(where_prefix))
    return Pod(labels=labels)


HEAD, CPU_WORKER, GPU_WORKER = pod("ray head"), pod("ray worker group cpu"), pod("ray worker group gpu")
SUBMITTER, MLFLOW, POSTGRES, MINIO = pod("ray job submitter"), pod("mlflow"), pod("postgres"), pod("minio")
STRANGER = Pod(labels={"app": "something-else"})
OTHER_NAMESPACE = Pod(labels={"app.kubernetes.io/part-of": "trainworks"}, namespace="default")
OPERATOR = Pod(labels={"app.kubernetes.io/name": "kuberay-operator"}, namespace="kuberay-system")


def test_default_policy_denies_all_ingress() -> None:
    deny = next(p for p in POLICIES if p["metadata"]["name"] == "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert not ingress_allowed(POLICIES, POSTGRES, STRANGER, 9999)


@pytest.mark.parametrize(("source", "port", "allowed"), [
    (SUBMITTER, 8265, True), (CPU_WORKER, 6379, True), (GPU_WORKER, 6379, True), (OPERATOR, 8265, True),
    (STRANGER, 8265, False), (STRANGER, 6379, False), (OTHER_NAMESPACE, 8265, False), (OPERATOR, 6379, False),
])
def test_ray_head_api_and_gcs_are_reachable_only_from_the_clusters_own_pods(source: Pod, port: int,
                                                                            allowed: bool) -> None:
    assert ingress_allowed(POLICIES, HEAD, source, port) is allowed


@pytest.mark.parametrize(("target", "source", "port", "allowed"), [
    (CPU_WORKER, HEAD, 12345, True), (GPU_WORKER, CPU_WORKER, 8076, True), (CPU_WORKER, SUBMITTER, 12345, False),
    (MLFLOW, HEAD, 5000, True), (MLFLOW, CPU_WORKER, 5000, True), (MLFLOW, STRANGER, 5000, False),
    (MLFLOW, OTHER_NAMESPACE, 5000, False), (MLFLOW, OPERATOR, 5000, False),
    (POSTGRES, MLFLOW, 5432, True), (POSTGRES, HEAD, 5432, False), (POSTGRES, STRANGER, 5432, False),
    (MINIO, MLFLOW, 9000, True), (MINIO, CPU_WORKER, 9000, True), (MINIO, STRANGER, 9000, False),
])
def test_each_service_admits_only_its_clients(target: Pod, source: Pod, port: int, allowed: bool) -> None:
    assert ingress_allowed(POLICIES, target, source, port) is allowed


def test_the_policy_evaluator_opens_pods_that_no_policy_isolates() -> None:
    assert ingress_allowed([], MLFLOW, STRANGER, 5000)
    assert not ingress_allowed(POLICIES, MLFLOW, STRANGER, 5000)


def test_schemas_are_named_with_their_versions() -> None:
    readme = (ROOT / "tests" / "deploy" / "schemas" / "README.md").read_text()
    assert f"Kubernetes {KUBERNETES_VERSION.rsplit('.', 1)[0]}" in readme and "KubeRay v1.6" in readme


def test_the_kubectl_commands_in_the_example_create_exactly_its_secrets() -> None:
    text = (K8S / "secret.example.yaml").read_text()
    commands = " ".join(line.lstrip("# ").rstrip("\\") for line in text.splitlines()
                        if line.startswith("#")).split("kubectl -n trainworks create secret generic ")[1:]
    created = {command.split()[0]: set(re.findall(r"--from-literal=([\w-]+)=", command)) for command in commands}
    assert created == {name: set(data) for name, data in example_secrets().items()}
