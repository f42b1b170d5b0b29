"""The four services (and N sender replicas) as separate processes, started and stopped
by pid: what the end-to-end tests, the fault suite and the benchmarks run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx

from devstack.processes import ProcessTable, Tracked, await_ready, free_port, http_ok
from devstack.stack import start_python

TOKEN = "e2e-token"
ADMIN_TOKEN = "e2e-admin-token"  # the dashboard's system part is for admins
API_TOKENS = f"marketer:{TOKEN},other:other-token,ops:{ADMIN_TOKEN}:admin"


@dataclass
class System:
    """api, dispatcher, metrics and N senders, started and stopped by pid."""

    env: dict[str, str]
    table: ProcessTable
    sandbox_url: str
    api_port: int = field(default_factory=free_port)
    sender_replicas: int = 1
    # Processes started beside the usual ones (a replacement replica, say).
    extras: list[str] = field(default_factory=list)
    health_urls: dict[str, str] = field(default_factory=dict)

    def limiter_grant_times(self) -> list[float]:
        """Every grant in the senders' shared limiter logs (Redis server time, ms), in
        order: the limit is the limiter's, so this is where it is checked."""
        import redis

        from services.sender.limiter import grant_log_key
        from shared.redis import Keys

        pattern = grant_log_key(Keys(self.env.get("REDIS_KEY_PREFIX", "")), "*")
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            logs = [
                client.zrange(key, 0, -1, withscores=True)
                for key in client.scan_iter(match=pattern)
            ]
            return sorted(score for log in logs for _, score in log)
        finally:
            client.close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, env: dict[str, str] | None = None) -> None:
        self._await(name, self._launch(name, env))

    def _launch(self, name: str, env: dict[str, str] | None = None) -> Tracked:
        extra = {**self.env, **(env or {})}
        if name == "api":
            extra["API_PORT"] = str(self.api_port)
            # One api process unless asked (API_WORKERS in env): the tests here are about
            # the pipeline, their RSS samples and pid-based stops see one process, and on a
            # small machine more workers only take cores from the services measured.
            # tests/api/test_workers.py runs the api with several; `make up` uses the
            # default, one per core.
            extra.setdefault("API_WORKERS", "1")
            health = f"{self.api_url}/health"
        else:
            port = free_port()
            extra["HEALTH_PORT"] = str(port)
            extra["SENDER_REPLICA_ID"] = name
            health = f"http://127.0.0.1:{port}/health"
        # Replicas are named after their service: sender-1, dispatcher-2.
        module = name.split("-", 1)[0]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "REDIS"))}
        self.health_urls[name] = health
        return start_python(self.table, name, ["-m", f"services.{module}"], base, extra)

    def _await(self, name: str, tracked: Tracked) -> None:
        health = self.health_urls[name]
        await_ready(tracked, lambda: http_ok(health), 60, f"service {name}")

    def names(self) -> list[str]:
        senders = [f"sender-{n}" for n in range(self.sender_replicas)]
        return ["metrics", "dispatcher", *senders, "api"]

    def start_all(self) -> None:
        # All at once, then wait for each: a service's start is mostly imports and
        # Kafka's group joins, which overlap (one after the other it cost the test suite
        # about ten seconds a system).
        launched = {name: self._launch(name) for name in self.names()}
        for name, tracked in launched.items():
            self._await(name, tracked)

    def start_extra(self, name: str, env: dict[str, str] | None = None) -> None:
        self.extras.append(name)
        self.start(name, env)

    def stop_all(self) -> None:
        # Together: senders draining a running campaign each take their drain timeout.
        self.table.stop_together([*reversed(self.names()), *self.extras])

    def client(self, token: str = TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def sandbox(self) -> httpx.Client:
        return httpx.Client(base_url=self.sandbox_url, timeout=30)
