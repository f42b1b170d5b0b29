"""The deployment files, checked offline with real tools.

- deploy/k8s: every kustomization rendered by ``kubectl kustomize`` and every object
  validated against the Kubernetes JSON schemas bundled in ``kubernetes-validate``;
  then what the schemas cannot say (probes, resources, the sender HPA's ceiling). The
  production overlay's operator resources are checked against their CRDs, and what
  is particular to it, in test_production_overlay.py.
- docker-compose.yml: validated against the Compose Specification schema that the
  pinned ``check-jsonschema`` package ships, with ``jsonschema``; then the start-up
  ordering (every ``service_healthy`` dependency has a health check) and the pins.
- Grafana, Prometheus, the OpenTelemetry Collector and Tempo: the dashboard queries
  only metrics of ``shared.metrics.METRIC_NAMES`` on provisioned data sources, and the
  configurations point at the ports the services really use.

Nothing here needs Kafka, Redis, Docker or a cluster.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.api.settings import ApiSettings
from shared.metrics import METRIC_NAMES
from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "campaign-queue.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus.yml"
COLLECTOR_CONFIG = DEPLOY / "otel-collector.yaml"
LOCAL_COLLECTOR_CONFIG = DEPLOY / "k8s" / "overlays" / "local" / "otel-collector-config.yaml"
TEMPO_CONFIG = DEPLOY / "tempo.yaml"

# Kubernetes release whose schemas the manifests must satisfy (kubernetes-validate
# ships schemas for several releases; this is the oldest we support).
KUBERNETES_VERSION = "1.32.0"
KUSTOMIZATIONS = ["base", "overlays/local", "overlays/production"]
# Custom resources the overlays create, and the CRD each must satisfy: kinds that
# kubernetes-validate does not know, validated against these vendored files
# (tests/fixtures/crds/README.md says where each came from) in
# test_production_overlay.py.
CRD_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "crds"
CUSTOM_RESOURCE_DEFINITIONS = {
    ("kafka.strimzi.io/v1", "Kafka"): "strimzi-1.2.0/040-Crd-kafka.yaml",
    ("kafka.strimzi.io/v1", "KafkaTopic"): "strimzi-1.2.0/043-Crd-kafkatopic.yaml",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "strimzi-1.2.0/045-Crd-kafkanodepool.yaml",
    ("postgresql.cnpg.io/v1", "Cluster"): "cloudnative-pg-1.30.1/postgresql.cnpg.io_clusters.yaml",
}

# Where each service serves GET /health and GET /metrics (shared/metrics.py).
SERVICE_PORTS = {"api": 8000, "dispatcher": 8101, "sender": 8102, "metrics": 8103}
# Where Prometheus scrapes each: the api serves /metrics apart from its public port.
METRICS_PORTS = {**SERVICE_PORTS, "api": 9464}
METRIC_NAME = re.compile(r"campaign_queue_[a-z_]+")
# The services that use PostgreSQL, and the command that applies its schema first.
DATABASE_USERS = ("api", "dispatcher", "metrics")
MIGRATE_COMMAND = ["python", "-m", "shared.database", "migrate"]


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _host_port(address: str) -> tuple[str, int]:
    """``http://host:port/...`` or ``host:port`` as (host, port)."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    assert parts.hostname and parts.port, f"no host:port in {address!r}"
    return parts.hostname, parts.port


# --------------------------------------------------------------------------- k8s


@functools.cache
def _render(kustomization: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "kubectl is not on PATH, so the kustomizations cannot be rendered "
            "(install kubectl to run the Kubernetes checks)"
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s" / kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, tuple[dict[str, Any], ...]]:
    return request.param, _render(request.param)


def _objects(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _config(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    return _objects(docs, "ConfigMap")["campaign-queue-config"]["data"]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"{container['name']}: no container port named {port!r}"
    return named[port]


def test_every_rendered_object_is_a_valid_kubernetes_object(rendered) -> None:
    name, docs = rendered
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    problems = []
    for doc in docs:
        label = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            # strict: unknown fields (a typo, a field in the wrong place) fail too.
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{label}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            if (doc["apiVersion"], doc["kind"]) not in CUSTOM_RESOURCE_DEFINITIONS:
                problems.append(f"{label}: {error.message}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_sender_never_outnumbers_the_message_commands_partitions(rendered) -> None:
    name, docs = rendered
    partitions = int(_config(docs)["MESSAGE_COMMANDS_PARTITIONS"])
    assert partitions == Settings.model_fields["message_commands_partitions"].default
    hpas = _objects(docs, "HorizontalPodAutoscaler")
    if name == "base":
        assert "sender" in hpas, "the base scales the sender with an HPA"
    if "sender" in hpas:
        hpa = hpas["sender"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "sender",
        }
        # A sender beyond the partition count would get no partition.
        assert hpa["spec"]["maxReplicas"] == partitions
        assert 1 <= hpa["spec"]["minReplicas"] <= partitions
    else:
        replicas = _objects(docs, "Deployment")["sender"]["spec"].get("replicas", 1)
        assert 1 <= replicas <= partitions


def test_every_deployment_has_probes_and_resources(rendered) -> None:
    _, docs = rendered
    deployments = _objects(docs, "Deployment")
    assert set(SERVICE_PORTS) <= set(deployments)
    for name, deployment in deployments.items():
        container = _container(deployment)
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{name}: no {probe}"
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{name}: requests"
        assert "memory" in resources.get("limits", {}), f"{name}: no memory limit"
        if name in SERVICE_PORTS:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                check = container[probe]["httpGet"]
                assert check["path"] == "/health", f"{name}: {probe}"
                assert _port_number(container, check["port"]) == SERVICE_PORTS[name]


def test_services_are_scraped_and_reachable_on_their_ports(rendered) -> None:
    _, docs = rendered
    deployments = _objects(docs, "Deployment")
    services = _objects(docs, "Service")
    for name, port in SERVICE_PORTS.items():
        template = deployments[name]["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == str(METRICS_PORTS[name]), name
        assert annotations.get("prometheus.io/path") == "/metrics", name
        # A Service selects the pods and leads to the same port.
        service = services[name]
        labels = template["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        container = _container(deployments[name])
        targets = {_port_number(container, p["targetPort"]) for p in service["spec"]["ports"]}
        assert port in targets, name


def test_sender_and_api_keep_a_replica_through_disruptions(rendered) -> None:
    _, docs = rendered
    deployments = _objects(docs, "Deployment")
    budgets = _objects(docs, "PodDisruptionBudget")
    for name in ("sender", "api"):
        assert name in budgets, f"no PodDisruptionBudget for {name}"
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        assert budgets[name]["spec"].get("minAvailable", 0) >= 1


def test_api_runs_one_worker_per_core_of_its_cpu_limit(rendered) -> None:
    _, docs = rendered
    container = _container(_objects(docs, "Deployment")["api"])
    env = {item["name"]: item for item in container.get("env", [])}
    assert "API_WORKERS" in env, "the api's worker count is not set"
    source = env["API_WORKERS"]["valueFrom"]["resourceFieldRef"]
    assert source["resource"] == "limits.cpu" and str(source.get("divisor")) == "1"
    assert source.get("containerName", "api") == container["name"]
    # Whole cores: a fraction would round up to a worker without a core of its own.
    limit = str(container["resources"]["limits"]["cpu"])
    assert limit.isdigit() and int(limit) >= 1, limit
    assert "API_WORKERS" not in _config(docs), "the shared ConfigMap would override it"


def test_services_export_traces_to_the_collector(rendered) -> None:
    name, docs = rendered
    config = _config(docs)
    assert config["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    host, port = _host_port(config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    deployments = _objects(docs, "Deployment")
    for service in SERVICE_PORTS:
        container = _container(deployments[service])
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("OTEL_SERVICE_NAME") == service
        assert {"configMapRef": {"name": "campaign-queue-config"}} in container["envFrom"]
    if name == "overlays/local":
        # The overlay runs the collector the ConfigMap names (production points at
        # the operator's own).
        collector = _objects(docs, "Service")[host]
        assert port in {p["port"] for p in collector["spec"]["ports"]}


def _database_url_source(container: dict[str, Any]) -> dict[str, Any]:
    env = {item["name"]: item for item in container.get("env", [])}
    assert "DATABASE_URL" in env, f"{container['name']}: no DATABASE_URL"
    source = env["DATABASE_URL"].get("valueFrom", {}).get("secretKeyRef")
    # It carries the password: a Secret, never a literal or the ConfigMap.
    assert source, f"{container['name']}: DATABASE_URL is not read from a Secret"
    assert not source.get("optional"), f"{container['name']}: DATABASE_URL is optional"
    return source


def test_database_users_migrate_before_they_start(rendered) -> None:
    name, docs = rendered
    deployments = _objects(docs, "Deployment")
    assert "DATABASE_URL" not in _config(docs), "the password would sit in the ConfigMap"
    sources = []
    for service in DATABASE_USERS:
        pod = deployments[service]["spec"]["template"]["spec"]
        container = _container(deployments[service])
        source = _database_url_source(container)
        (migrate,) = [c for c in pod.get("initContainers", []) if c["name"] == "migrate"]
        assert migrate["image"] == container["image"], service
        assert migrate["command"] == MIGRATE_COMMAND, service
        assert _database_url_source(migrate) == source, service
        assert migrate.get("envFrom") == container["envFrom"], service
        assert {"cpu", "memory"} <= set(migrate["resources"]["requests"]), service
        assert "memory" in migrate["resources"]["limits"], service
        assert migrate["securityContext"].get("readOnlyRootFilesystem") is True, service
        sources.append(source)
    # The sender does not use the database, so it does not hold its password.
    sender = _container(deployments["sender"])
    assert "DATABASE_URL" not in {e["name"] for e in sender.get("env", [])}
    if name != "overlays/local":
        return  # production's is CloudNativePG's: test_production_overlay.py
    # The local overlay runs the PostgreSQL the generated Secret points at.
    (secret_name,) = {(s["name"], s["key"]) for s in sources}
    secret = _objects(docs, "Secret")[secret_name[0]]
    url = urlsplit(base64.b64decode(secret["data"][secret_name[1]]).decode())
    assert url.scheme == "postgresql" and url.path == "/campaign_queue", url
    statefulset = _objects(docs, "StatefulSet")[url.hostname]
    service = _objects(docs, "Service")[url.hostname]
    assert service["spec"].get("clusterIP") == "None"
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    assert service["spec"]["selector"].items() <= (
        statefulset["spec"]["template"]["metadata"]["labels"].items()
    )
    assert statefulset["spec"]["serviceName"] == url.hostname
    assert statefulset["spec"]["replicas"] == 1
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    (server,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert server["image"].startswith("postgres:16.")
    assert claim["metadata"]["name"] in {m["name"] for m in server["volumeMounts"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["exec"]["command"][0] == "pg_isready", probe
    assert {"cpu", "memory"} <= set(server["resources"]["requests"])
    assert "memory" in server["resources"]["limits"]


def test_no_container_image_floats(rendered) -> None:
    _, docs = rendered
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and "/" not in tag, f"{image}: no tag"
            assert tag != "latest", f"{image}: `latest` is not a pin"


# ----------------------------------------------------------------------- compose


@functools.cache
def _compose_schema() -> dict[str, Any]:
    # The Compose Specification's schema (compose-spec.json, Apache-2.0), as vendored
    # by the pinned check-jsonschema package (requirements-dev.lock): no download at
    # test time, and its version changes only with the pin.
    resource = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(resource.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    assert schema.get("title") == "Compose Specification"
    return schema


@functools.cache
def _compose_raw() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``...)."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and not current)
        if op in (":-", "-"):
            return arg if missing else str(current)
        if op in (":?", "?"):
            assert not missing, f"${{{name}}} is required: {arg}"
            return str(current)
        if op in (":+", "+"):
            return "" if missing else arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


@functools.cache
def _compose() -> dict[str, Any]:
    """The compose file as `docker compose` sees it with nothing set in the environment."""
    return _interpolate(_compose_raw(), {})


def _dependencies(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):  # short form: started, required
        return {name: {"condition": "service_started"} for name in depends_on}
    return depends_on


def test_compose_file_matches_the_compose_specification() -> None:
    schema = _compose_schema()
    # The schema declares draft-07 (in a spelling jsonschema does not map by itself).
    assert "draft-07" in schema["$schema"], schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    for label, document in (("as written", _compose_raw()), ("interpolated", _compose())):
        errors = [
            f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(document)
        ]
        assert not errors, f"docker-compose.yml ({label}):\n" + "\n".join(errors)


def test_compose_start_up_waits_for_health_checked_services() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, options in _dependencies(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            target = services[dependency]
            if options.get("condition", "service_started") == "service_healthy":
                check = target.get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {dependency} to be healthy, which has no health check"
                )
            # A dependency that may be switched off by a profile must not be required,
            # or compose refuses to start the dependent without that profile.
            if not set(target.get("profiles", [])) <= set(service.get("profiles", [])):
                assert options.get("required") is False, f"{name} -> {dependency}"
    for name in SERVICE_PORTS:
        conditions = {dep: o.get("condition") for dep, o in _dependencies(services[name]).items()}
        assert conditions["kafka"] == conditions["redis"] == "service_healthy", name
        assert "healthcheck" in services[name], name
    assert _dependencies(services["sender"])["twilio-sandbox"]["condition"] == "service_healthy"


def test_compose_services_run_as_described() -> None:
    services = _compose()["services"]
    assert {"kafka", "redis", "twilio-sandbox", "otel-collector", "tempo"} <= set(services)
    assert {"prometheus", "grafana", *SERVICE_PORTS} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # Redis holds the idempotency ledger: it must come back after a restart.
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    # The sandbox is dev-only, and still what the services use by default.
    assert services["twilio-sandbox"]["profiles"] == ["dev"]
    # One image for the four services (and the sandbox), built from the Dockerfile.
    images = {services[name]["image"] for name in [*SERVICE_PORTS, "twilio-sandbox"]}
    assert len(images) == 1
    for name, port in SERVICE_PORTS.items():
        service = services[name]
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["build"]["context"] == "."
        env = service["environment"]
        assert env["TWILIO_API_BASE_URL"] == "http://twilio-sandbox:8090"
        assert _host_port(env["OTEL_EXPORTER_OTLP_ENDPOINT"]) == ("otel-collector", 4318)
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert env["OTEL_SERVICE_NAME"] == name
        assert int(env.get("HEALTH_PORT", env["API_PORT"])) == port
        assert f":{port}/health" in " ".join(service["healthcheck"]["test"])


def test_compose_migrates_postgres_before_the_services_start() -> None:
    services = _compose()["services"]
    volumes = _compose()["volumes"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16.")
    # The data survives `down` (without -v): a named volume on the data directory.
    mounts = dict(volume.split(":")[:2] for volume in postgres["volumes"])
    assert mounts.get("postgres-data") == "/var/lib/postgresql/data"
    assert "postgres-data" in volumes
    assert "pg_isready" in postgres["healthcheck"]["test"]
    env = postgres["environment"]
    assert env["POSTGRES_USER"] == env["POSTGRES_DB"] == "campaign_queue"
    migrate = services["migrate"]
    # The schema comes from the same build as the code that uses it.
    assert migrate["image"] == services["api"]["image"]
    assert migrate["command"] == MIGRATE_COMMAND
    # One-shot: a restart policy would run it again after it exits.
    assert migrate.get("restart") == "no"
    assert _dependencies(migrate)["postgres"]["condition"] == "service_healthy"
    url = urlsplit(migrate["environment"]["DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert (url.username, url.password) == ("campaign_queue", env["POSTGRES_PASSWORD"])
    for name in DATABASE_USERS:
        dependency = _dependencies(services[name]).get("migrate", {})
        assert dependency.get("condition") == "service_completed_successfully", name
        database_url = services[name]["environment"]["DATABASE_URL"]
        assert database_url == migrate["environment"]["DATABASE_URL"], name
    assert "DATABASE_URL" not in services["sender"]["environment"]
    # One password, wherever it is set.
    chosen = _interpolate(_compose_raw(), {"POSTGRES_PASSWORD": "other"})["services"]
    assert chosen["postgres"]["environment"]["POSTGRES_PASSWORD"] == "other"
    assert urlsplit(chosen["api"]["environment"]["DATABASE_URL"]).password == "other"


def test_compose_api_runs_several_workers_by_default() -> None:
    env = _compose()["services"]["api"]["environment"]
    workers = ApiSettings(api_workers=env["API_WORKERS"]).api_workers
    assert workers >= 2
    chosen = _interpolate(_compose_raw(), {"API_WORKERS": "4"})["services"]["api"]
    assert chosen["environment"]["API_WORKERS"] == "4"


def test_compose_images_are_pinned_and_mounts_exist() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository and "/" not in tag, f"{name}: {service['image']} has no tag"
        assert tag != "latest", f"{name}: `latest` is not a pin"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"


def test_image_is_multi_stage_and_runs_as_non_root() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(stages) >= 2, "the Dockerfile should build in one stage and run in another"
    final_stage = lines[lines.index(stages[-1]) :]
    users = [line.split(None, 1)[1] for line in final_stage if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER, so it runs as root"
    assert users[-1].split(":")[0] not in {"0", "root"}


def test_everything_the_image_copies_reaches_the_build_context() -> None:
    """.dockerignore is an allow-list: a COPY of a path it does not let back in fails
    the build (or, for a folder, copies nothing)."""
    allowed = {
        line.strip()[1:].rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("!")
    }
    copied = [
        source.rstrip("/")
        for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    assert {"shared", "services", "campaignctl"} <= set(copied)
    for source in copied:
        assert source in allowed, f"COPY {source}: .dockerignore keeps it out of the context"
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such path"


# ---------------------------------------------------------------- observability


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows hold their panels


def _datasource_refs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value
            else:
                yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


def _provisioned_datasources() -> dict[str, str]:
    return {ds["uid"]: ds["type"] for ds in _load_yaml(DATASOURCES)["datasources"]}


def test_dashboard_queries_only_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["panels"], list) and dashboard["panels"]
    queried: set[str] = set()
    for panel in _panels(dashboard["panels"]):
        assert isinstance(panel.get("type"), str) and panel["type"], panel
        assert isinstance(panel.get("title"), str) and panel["title"], panel
        for target in panel.get("targets", []):
            if "expr" not in target:
                continue
            names = set(METRIC_NAME.findall(target["expr"]))
            assert names, f"{panel['title']}: {target['expr']} queries no project metric"
            unknown = names - METRIC_NAMES
            assert not unknown, f"{panel['title']}: not in shared.metrics: {sorted(unknown)}"
            queried |= names
    # The panels the issue asks for, by the metric each one needs.
    wanted = {
        "campaign_queue_messages_sent_total",
        "campaign_queue_messages_failed_total",
        "campaign_queue_twilio_request_duration_seconds_bucket",
        "campaign_queue_limiter_wait_seconds_bucket",
        "campaign_queue_circuit_breaker_state",
        "campaign_queue_consumer_lag",
        "campaign_queue_batches_in_flight",
        "campaign_queue_campaigns",
        "campaign_queue_results_folded_total",
    }
    assert wanted <= queried, f"no panel for {sorted(wanted - queried)}"


def test_dashboard_uses_the_provisioned_data_sources() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    provisioned = _provisioned_datasources()
    assert set(provisioned.values()) == {"prometheus", "tempo"}
    refs = list(_datasource_refs(dashboard))
    assert refs
    for ref in refs:
        assert ref.get("uid") in provisioned, f"unknown data source {ref}"
        assert ref.get("type", provisioned[ref["uid"]]) == provisioned[ref["uid"]], ref
    # A panel searches traces in Tempo.
    assert any(
        target.get("queryType") in {"traceql", "traceqlSearch", "nativeSearch"}
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("datasource", {}).get("type") == "tempo"
    )


def test_grafana_is_provisioned_from_the_repository() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = _load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    # The data sources' addresses are compose services on their real ports.
    services = _compose()["services"]
    tempo_port = _load_yaml(TEMPO_CONFIG)["server"]["http_listen_port"]
    expected = {"prometheus": ("prometheus", 9090), "tempo": ("tempo", tempo_port)}
    for datasource in _load_yaml(DATASOURCES)["datasources"]:
        host, port = _host_port(datasource["url"])
        assert host in services
        assert (host, port) == expected[datasource["type"]]


def test_prometheus_scrapes_every_service_metrics_port() -> None:
    config = _load_yaml(PROMETHEUS_CONFIG)
    services = _compose()["services"]
    scraped: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = _host_port(target)
                scraped.add((host, port))
                assert host == "localhost" or host in services, job["job_name"]
        for dns in job.get("dns_sd_configs", []):
            for host in dns["names"]:
                assert host in services, job["job_name"]
                assert path == "/metrics", job["job_name"]
                scraped.add((host, dns["port"]))
    missing = set(METRICS_PORTS.items()) - scraped
    assert not missing, f"not scraped: {sorted(missing)}"


def _pipeline_components_defined(config: dict[str, Any]) -> None:
    for name, pipeline in config["service"]["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in (config.get(section) or {}), f"{name}: {component}"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]


def test_collector_receives_otlp_and_exports_to_tempo() -> None:
    config = _load_yaml(COLLECTOR_CONFIG)
    _pipeline_components_defined(config)
    protocols = config["receivers"]["otlp"]["protocols"]
    # The services' OTEL_EXPORTER_OTLP_ENDPOINT: OTLP/HTTP on 4318.
    assert _host_port(protocols["http"]["endpoint"]) == ("0.0.0.0", 4318)
    assert "grpc" in protocols
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    tempo_grpc = _load_yaml(TEMPO_CONFIG)["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    tempo_port = _host_port(tempo_grpc["endpoint"])[1]
    exporters = [
        config["exporters"][name]
        for name in traces["exporters"]
        if name == "otlp" or name.startswith("otlp/")
    ]
    assert any(_host_port(e["endpoint"]) == ("tempo", tempo_port) for e in exporters)
    # The Kubernetes overlay's collector takes the same OTLP input.
    local = _load_yaml(LOCAL_COLLECTOR_CONFIG)
    _pipeline_components_defined(local)
    assert _host_port(local["receivers"]["otlp"]["protocols"]["http"]["endpoint"])[1] == 4318
