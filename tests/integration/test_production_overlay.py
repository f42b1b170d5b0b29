"""The production overlay (deploy/k8s/overlays/production), rendered offline.

test_deployment_files.py runs its checks on every kustomization, this one included.
Here: the Strimzi and CloudNativePG resources against their operators' CRDs, vendored
in tests/fixtures/crds, and what no schema says: three brokers keeping two copies in
sync, the topics the services would create themselves, Redis failover through three
Sentinels, a three-instance PostgreSQL the services migrate and fit in, a disruption
budget for every workload, the senders spread over zones, and the api autoscaled.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import jsonschema
import pytest

from shared.kafka import topic_configs
from shared.settings import Settings
from shared.topics import Replication, topic_specs
from tests.integration.test_deployment_files import (
    CRD_FIXTURES,
    CUSTOM_RESOURCE_DEFINITIONS,
    DATABASE_USERS,
    SERVICE_PORTS,
    _config,
    _container,
    _database_url_source,
    _load_yaml,
    _objects,
    _render,
)

PRODUCTION = "overlays/production"
Docs = tuple[dict[str, Any], ...]


@pytest.fixture
def docs() -> Docs:
    return _render(PRODUCTION)


def _settings(docs: Docs) -> Settings:
    """The settings every service pod reads: the ConfigMap, as its environment."""
    with mock.patch.dict(os.environ, _config(docs), clear=True):
        return Settings()


def _only(docs: Docs, kind: str) -> dict[str, Any]:
    (found,) = _objects(docs, kind).values()
    return found


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, selector
    return selector["matchLabels"].items() <= labels.items()


# ----------------------------------------------------------------- custom resources


def _as_the_api_server_checks(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema as a JSON Schema that fails where the API server's
    strict field validation would: a field the schema does not name is an error,
    unless ``x-kubernetes-preserve-unknown-fields`` keeps it; ``nullable`` and
    ``x-kubernetes-int-or-string`` widen the type. CEL rules are not evaluated."""
    strict = dict(schema)
    if "properties" in strict:
        strict["properties"] = {
            name: _as_the_api_server_checks(sub) for name, sub in strict["properties"].items()
        }
    for key in ("items", "additionalProperties", "not"):
        if isinstance(strict.get(key), dict):
            strict[key] = _as_the_api_server_checks(strict[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in strict:
            strict[key] = [_as_the_api_server_checks(sub) for sub in strict[key]]
    if strict.pop("x-kubernetes-int-or-string", False):
        strict.pop("type", None)
        strict["allOf"] = [*strict.get("allOf", []), {"type": ["integer", "string"]}]
    if strict.get("nullable") and "type" in strict:
        strict["type"] = [strict["type"], "null"]
    preserved = strict.get("x-kubernetes-preserve-unknown-fields", False)
    if strict.get("type") == "object" and not preserved:
        strict.setdefault("additionalProperties", False)
    return strict


@functools.cache
def _crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = _load_yaml(CRD_FIXTURES / CUSTOM_RESOURCE_DEFINITIONS[api_version, kind])
    group, _, version = api_version.partition("/")
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, kind)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = _as_the_api_server_checks(served["schema"]["openAPIV3Schema"])
    # The API server checks metadata as ObjectMeta, apart from the CRD's schema.
    schema["properties"]["metadata"] = {"type": "object"}
    jsonschema.Draft4Validator.check_schema(schema)
    return schema


def _crd_problems(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(_crd_schema(doc["apiVersion"], doc["kind"]))
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


def test_custom_resources_match_their_crds(docs: Docs) -> None:
    custom = [d for d in docs if (d["apiVersion"], d["kind"]) in CUSTOM_RESOURCE_DEFINITIONS]
    assert {(d["apiVersion"], d["kind"]) for d in custom} == set(CUSTOM_RESOURCE_DEFINITIONS)
    problems = [
        f"{doc['kind']}/{doc['metadata']['name']}: {problem}"
        for doc in custom
        for problem in _crd_problems(doc)
    ]
    assert not problems, "\n".join(problems)


def test_the_crd_check_fails_what_the_api_server_would_refuse(docs: Docs) -> None:
    kafka = copy.deepcopy(_only(docs, "Kafka"))
    kafka["spec"]["kafka"]["replicas"] = 3  # v1beta2's place for it, gone in v1
    assert any("replicas" in p for p in _crd_problems(kafka))
    topic = copy.deepcopy(next(iter(_objects(docs, "KafkaTopic").values())))
    topic["spec"]["partitions"] = 0
    assert _crd_problems(topic)
    cluster = copy.deepcopy(_only(docs, "Cluster"))
    cluster["spec"]["instances"] = "3"
    assert _crd_problems(cluster)
    # Free-form broker settings stay free-form.
    kafka = copy.deepcopy(_only(docs, "Kafka"))
    kafka["spec"]["kafka"]["config"]["log.retention.hours"] = 24
    assert not _crd_problems(kafka)


# -------------------------------------------------------------------------- Kafka


def test_kafka_runs_three_brokers_that_keep_two_copies_in_sync(docs: Docs) -> None:
    kafka = _only(docs, "Kafka")
    name = kafka["metadata"]["name"]
    pools = _objects(docs, "KafkaNodePool").values()
    assert all(pool["metadata"]["labels"]["strimzi.io/cluster"] == name for pool in pools)
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3
    assert controllers >= 3 and controllers % 2 == 1, "a KRaft quorum needs an odd count"
    for pool in pools:
        for volume in pool["spec"]["storage"]["volumes"]:
            assert volume["type"] == "persistent-claim" and volume["deleteClaim"] is False

    config = kafka["spec"]["kafka"]["config"]
    wanted = Replication.for_brokers(brokers)
    assert (wanted.factor, wanted.min_insync) == (3, 2)
    assert config["default.replication.factor"] == wanted.factor
    assert config["min.insync.replicas"] == wanted.min_insync
    assert config["unclean.leader.election.enable"] is False
    # Kafka's own topics as durable as the project's.
    assert config["offsets.topic.replication.factor"] == wanted.factor
    assert config["transaction.state.log.replication.factor"] == wanted.factor
    assert config["transaction.state.log.min.isr"] == wanted.min_insync
    assert config["auto.create.topics.enable"] is False
    assert kafka["spec"]["kafka"]["rack"]["topologyKey"], "no rack awareness"
    assert "topicOperator" in kafka["spec"]["entityOperator"]

    # The services create their own topics (faust's too) with the same layout.
    settings = _settings(docs)
    assert Replication.from_settings(settings) == wanted
    # ...and reach the brokers through the plain listener's bootstrap Service.
    (plain,) = [
        listener
        for listener in kafka["spec"]["kafka"]["listeners"]
        if listener["type"] == "internal" and not listener["tls"]
    ]
    assert settings.kafka_bootstrap_servers == f"{name}-kafka-bootstrap:{plain['port']}"


def test_kafka_topics_are_the_ones_the_services_create(docs: Docs) -> None:
    cluster = _only(docs, "Kafka")["metadata"]["name"]
    declared = {}
    for topic in _objects(docs, "KafkaTopic").values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        spec = topic["spec"]
        configs = {key: str(value) for key, value in spec["config"].items()}
        name = spec.get("topicName", topic["metadata"]["name"])
        declared[name] = (spec["partitions"], spec["replicas"], configs)
    wanted = {
        spec.name: (spec.partitions, spec.replication.factor, topic_configs(spec))
        for spec in topic_specs(_settings(docs))
    }
    assert declared == wanted


# -------------------------------------------------------------------------- Redis


def test_services_reach_redis_through_three_sentinels(docs: Docs) -> None:
    settings = _settings(docs)
    statefulsets = _objects(docs, "StatefulSet")
    services = _objects(docs, "Service")
    sentinels = settings.redis_sentinel_addresses
    assert len(sentinels) == len(set(sentinels)) == 3
    for host, port in sentinels:
        pod, _, service_name = host.partition(".")
        statefulset_name, _, ordinal = pod.rpartition("-")
        statefulset = statefulsets[statefulset_name]
        assert statefulset["spec"]["serviceName"] == service_name
        assert int(ordinal) < statefulset["spec"]["replicas"]
        service = services[service_name]
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"].items() <= _pod_labels(statefulset).items()
        (sentinel,) = statefulset["spec"]["template"]["spec"]["containers"]
        assert port in {p["containerPort"] for p in sentinel["ports"]}
        assert port in {p["port"] for p in service["spec"]["ports"]}
    assert statefulsets["redis-sentinel"]["spec"]["replicas"] == 3

    # Every claim waits for a replica; with two, one failover still leaves one.
    assert settings.redis_min_replicas_acked == 1
    servers = statefulsets["redis"]["spec"]["replicas"]
    assert servers >= 1 + settings.redis_min_replicas_acked + 1
    assert urlsplit(settings.redis_url).path == "/0"

    local_redis = _objects(_render("overlays/local"), "StatefulSet")["redis"]
    for name in ("redis", "redis-sentinel"):
        pod = statefulsets[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        # One Redis release everywhere.
        assert container["image"] == _container(local_redis)["image"]
        assert "readinessProbe" in container and "livenessProbe" in container
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        # The group's addresses and master name come from the services' own settings.
        env = {e["name"]: e.get("valueFrom", {}) for e in container["env"]}
        for setting in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"):
            assert env[setting]["configMapKeyRef"] == {
                "name": "campaign-queue-config",
                "key": setting,
            }, (name, setting)


def test_redis_start_scripts_parse(docs: Docs) -> None:
    shell = shutil.which("sh")
    assert shell
    (generated,) = [
        config
        for name, config in _objects(docs, "ConfigMap").items()
        if name.startswith("redis-scripts-")
    ]
    assert set(generated["data"]) == {"start-redis.sh", "start-sentinel.sh"}
    for name, script in generated["data"].items():
        result = subprocess.run(
            [shell, "-n"], input=script, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"


# --------------------------------------------------------------------- PostgreSQL


def test_services_migrate_and_use_a_three_instance_postgres_cluster(docs: Docs) -> None:
    cluster = _only(docs, "Cluster")
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert spec["postgresql"]["synchronous"]["number"] >= 1
    repository, _, tag = spec["imageName"].rpartition(":")
    assert repository and tag.startswith("16."), spec["imageName"]
    # The database and owner the code expects (its default URL, the local overlay).
    expected = urlsplit(Settings.model_fields["database_url"].default)
    initdb = spec["bootstrap"]["initdb"]
    assert (initdb["owner"], f"/{initdb['database']}") == (expected.username, expected.path)
    assert "secret" not in initdb, "CloudNativePG generates the owner's password"

    # CloudNativePG's Secret for that owner: its `uri` leads to the read-write
    # Service. The repository holds no password (no Secret is rendered).
    generated = {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
    deployments = _objects(docs, "Deployment")
    for service in DATABASE_USERS:
        pod = deployments[service]["spec"]["template"]["spec"]
        for container in [*pod["initContainers"], *pod["containers"]]:
            assert _database_url_source(container) == generated, (service, container["name"])
    assert not _objects(docs, "Secret")


def test_postgres_takes_every_connection_the_services_may_open(docs: Docs) -> None:
    pool = _settings(docs).database_pool_size
    deployments = _objects(docs, "Deployment")
    api = _objects(docs, "HorizontalPodAutoscaler")["api"]["spec"]["maxReplicas"]
    api_workers = int(_container(deployments["api"])["resources"]["limits"]["cpu"])
    # A rollout adds a surge pod; the dispatcher is replaced, not surged.
    processes = (api + 1) * api_workers + 1 + 2  # api, dispatcher, metrics
    room_for_operators = 10
    parameters = _only(docs, "Cluster")["spec"]["postgresql"]["parameters"]
    assert processes * pool + room_for_operators <= int(parameters["max_connections"])


# ------------------------------------------------------------ placement and scale


def test_every_workload_has_a_disruption_budget_that_never_blocks_a_drain(
    docs: Docs,
) -> None:
    budgets = list(_objects(docs, "PodDisruptionBudget").values())
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in _objects(docs, "HorizontalPodAutoscaler").values()
    }
    workloads = {**_objects(docs, "Deployment"), **_objects(docs, "StatefulSet")}
    assert set(SERVICE_PORTS) <= set(workloads)
    for name, workload in workloads.items():
        (budget,) = [b for b in budgets if _selects(b["spec"]["selector"], _pod_labels(workload))]
        fewest = hpas[name]["spec"]["minReplicas"] if name in hpas else workload["spec"]["replicas"]
        if "minAvailable" in budget["spec"]:
            assert 1 <= budget["spec"]["minAvailable"] < fewest, name
        else:
            assert budget["spec"]["maxUnavailable"] >= 1, name


def test_senders_spread_over_zones_and_nodes(docs: Docs) -> None:
    sender = _objects(docs, "Deployment")["sender"]
    constraints = sender["spec"]["template"]["spec"]["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in constraints}
    assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys
    for constraint in constraints:
        assert _selects(constraint["labelSelector"], _pod_labels(sender))
    # At least one sender per zone of a three-zone cluster.
    assert _objects(docs, "HorizontalPodAutoscaler")["sender"]["spec"]["minReplicas"] >= 3


def test_api_scales_with_an_hpa_that_owns_its_replica_count(docs: Docs) -> None:
    hpa = _objects(docs, "HorizontalPodAutoscaler")["api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # An applied replica count would undo the HPA's on every apply.
    assert "replicas" not in _objects(docs, "Deployment")["api"]["spec"]
