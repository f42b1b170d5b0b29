"""PostgreSQL for the local stack: the server at DATABASE_URL when it answers, else a
private cluster of our own (Debian's ``postgresql``, ``initdb`` and ``postgres``).

PostgreSQL refuses to run as root. Run as root, the cluster belongs to the ``postgres``
user that Debian's package creates; its files then live under the run folder when that
user can reach it, else in a private folder of the system's temporary directory that
the run folder links to (a clone in a 0700 folder made by ``mktemp -d``, say).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from devstack.debian import APT_ENV, ensure_package
from devstack.processes import ProcessTable, StartError, Tracked, await_ready, port_open

DATABASE = "campaign_queue"
USER = "campaign_queue"
# Only for the private local cluster, which listens on 127.0.0.1 alone.
LOCAL_PASSWORD = "campaign_queue"
SERVER_USER = "postgres"
NAME = "postgres"
DATA_LINK = "postgres-data"


@dataclass(frozen=True)
class ServerBinaries:
    initdb: Path
    postgres: Path
    pg_isready: Path

    @classmethod
    def find(cls) -> ServerBinaries:
        """The newest installed server's programs, installing Debian's package when none is."""
        found = _newest_bin_dir()
        if found is None:
            # pg_ctlcluster comes with the server (postgresql-common), psql without it.
            ensure_package("pg_ctlcluster", "postgresql")
            found = _newest_bin_dir()
        if found is None:
            raise StartError("postgresql was installed but no server binaries were found")
        return cls(found / "initdb", found / "postgres", found / "pg_isready")


def _newest_bin_dir() -> Path | None:
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    return max(candidates, key=lambda p: int(p.parent.name), default=None)


def client_program(name: str) -> Path:
    """A program of the installed server's version (pg_dump, pg_restore, psql): one of
    another version may refuse the server."""
    return ServerBinaries.find().initdb.with_name(name)


def database_url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{USER}:{quote(LOCAL_PASSWORD)}@127.0.0.1:{port}/{database}"


def postgres_answers(url: str) -> bool:
    """True when a PostgreSQL server at the URL accepts connections (pg_isready)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname:
        return False
    binary = _newest_bin_dir()
    isready = str(binary / "pg_isready") if binary else shutil.which("pg_isready")
    if isready is None:
        return port_open(parsed.hostname, parsed.port or 5432)
    return _isready(Path(isready), parsed.hostname, parsed.port or 5432)


def _isready(isready: Path, host: str, port: int) -> bool:
    argv = [str(isready), "-q", "-h", host, "-p", str(port), "-d", "postgres", "-t", "2"]
    return subprocess.run(argv, env=APT_ENV, capture_output=True).returncode == 0


def _server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise StartError(
            f"PostgreSQL cannot run as root, and there is no '{SERVER_USER}' user to run it as"
        ) from None


def _reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` may pass through every folder above ``path``."""
    for folder in path.resolve().parents:
        mode = folder.stat()
        if folder.owner() != user.pw_name and not mode.st_mode & 0o001:
            return False
    return True


def data_directory(table: ProcessTable, user: pwd.struct_passwd | None) -> Path:
    """Where the cluster's files are: the run folder's ``postgres`` folder, or, when the
    server user cannot reach it, a private folder the run folder links to."""
    inside = table.run_dir / NAME
    if user is None or _reachable_by(table.run_dir, user):
        return inside
    link = table.run_dir / DATA_LINK
    if link.is_symlink():
        return link.resolve()
    digest = hashlib.sha256(str(table.run_dir.resolve()).encode()).hexdigest()[:12]
    outside = Path(tempfile.gettempdir()) / f"campaign-queue-postgres-{digest}"
    outside.mkdir(mode=0o700, exist_ok=True)
    os.chown(outside, user.pw_uid, user.pw_gid)
    table.run_dir.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    return outside


def forget_data(table: ProcessTable) -> None:
    """Remove a cluster kept outside the run folder (the folder itself goes with the run)."""
    link = table.run_dir / DATA_LINK
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)
        link.unlink()


def start_postgres(
    table: ProcessTable, port: int, *, durable: bool = True, timeout_s: float = 60
) -> str:
    """Start (creating it first when new) a private cluster on 127.0.0.1:``port``; returns
    the database's URL. ``durable=False`` turns off fsync, for test runs."""
    if port_open("127.0.0.1", port):
        raise StartError(f"port {port} is taken; cannot start PostgreSQL there")
    binaries = ServerBinaries.find()
    user = _server_user()
    data = data_directory(table, user)
    if not (data / "PG_VERSION").exists():
        _initdb(binaries, data, user)
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        # TCP only: a socket file would need a folder the server user may write to.
        "unix_socket_directories": "",
        "max_connections": "200",
        "shared_buffers": "128MB",
        "log_min_messages": "warning",
    }
    if not durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    argv = [str(binaries.postgres), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    tracked = table.start(
        NAME,
        argv,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        user=user.pw_name if user else None,
        # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client.
        stop_signal=signal.SIGINT,
    )
    host_check = lambda: _isready(binaries.pg_isready, "127.0.0.1", port)  # noqa: E731
    await_ready(tracked, host_check, timeout_s, "PostgreSQL")
    _create_database(port)
    return database_url(port)


def _initdb(binaries: ServerBinaries, data: Path, user: pwd.struct_passwd | None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    password_file = data.parent / f".{data.name}-password"
    password_file.write_text(LOCAL_PASSWORD + "\n")
    if user is not None:
        os.chown(data, user.pw_uid, user.pw_gid)
        os.chown(password_file, user.pw_uid, user.pw_gid)
    try:
        argv = [
            str(binaries.initdb), "-D", str(data), "-U", USER,
            f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=peer",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(
            argv,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            user=user.pw_name if user else None,
            capture_output=True,
            text=True,
            cwd=data.parent,
        )
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StartError(f"initdb failed:\n{result.stderr or result.stdout}")


def _create_database(port: int) -> None:
    """CREATE DATABASE campaign_queue once; the cluster's ``postgres`` database is there
    from initdb to connect to."""
    import asyncio

    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(database_url(port, "postgres"), timeout=10)
        try:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE
            )
            if not exists:
                await connection.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await connection.close()

    asyncio.run(create())


def running_port(tracked: Tracked) -> int:
    return int(next(a.split("=", 1)[1] for a in tracked.argv if a.startswith("port=")))
