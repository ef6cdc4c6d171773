"""A throwaway PostgreSQL cluster for the test session, started from the server binaries on this
machine (``initdb`` + ``pg_ctl`` in a temp dir, on a free port, unix socket in that dir).

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(``runuser``). Where the binaries are missing, tests that need PostgreSQL skip with the reason,
except in CI (``CI=true``), where they fail: CI must not pass by silently skipping.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.shared_data import in_ci


def server_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (PATH, then Debian's place)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def require_server_bin() -> Path:
    folder = server_bin()
    if folder is None:
        missing = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: the PostgreSQL store tests"
            " need them (Debian: apt-get install postgresql)"
        )
        if in_ci():
            pytest.fail(f"{missing}; CI needs them")
        pytest.skip(missing)
    return folder


class Cluster:
    def __init__(self, port: int, admin_url: str, psql: str) -> None:
        self.port = port
        self.admin_url = admin_url
        self._psql = psql
        self._stores = False

    def url(self, dbname: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_schema(self) -> str:
        """A new empty schema in the shared ``stores`` database (much faster than a database:
        ``CREATE DATABASE`` copies a template); a URL whose connections use it (asyncpg passes
        ``search_path`` on as a server setting; psql does not take such a URL)."""
        if not self._stores:
            self.psql("CREATE DATABASE stores")
            self._stores = True
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE SCHEMA {name}", self.url("stores"))
        return self.url("stores") + f"?search_path={name}"

    def psql(self, sql: str, url: str | None = None) -> str:
        """Run ``sql`` (on ``url``, default the admin database); its unaligned output."""
        out = subprocess.run(
            [self._psql, url or self.admin_url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    folder = require_server_bin()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    _reap_orphans(folder, prefix)
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
    data, log = root / "data", root / "server.log"
    (root / OWNER).write_text(str(os.getpid()))
    if as_root:
        shutil.chown(root, user="postgres")
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    try:
        subprocess.run(
            [*prefix, str(folder / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            + ["-E", "UTF8", "--no-sync"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
            + ["-w", "start"],
            capture_output=True,
            check=True,
            timeout=120,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = (exc.stderr or b"").decode(errors="replace")[-400:]
        pytest.fail(f"could not start a throwaway PostgreSQL cluster: {detail}")
    try:
        psql = folder / "psql"
        yield Cluster(
            port,
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            str(psql) if psql.exists() else "psql",
        )
    finally:
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


ROOT_PREFIX = "tradeloop-pg-"
OWNER = "owner.pid"
"""The pid of the test session that started a cluster, written beside its data."""


def _reap_orphans(folder: Path, prefix: list[str]) -> None:
    """Stop and remove the clusters of test sessions that died without tearing theirs down (a
    killed pytest): on a shared machine they would otherwise run until it restarts."""
    for owner in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*/{OWNER}"):
        try:
            os.kill(int(owner.read_text()), 0)
            continue  # its session is alive
        except ProcessLookupError:
            pass
        except (ValueError, OSError):
            continue
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(owner.parent / "data"), "-m", "immediate"]
            + ["stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(owner.parent, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
