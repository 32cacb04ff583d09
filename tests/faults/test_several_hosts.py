"""Several machines: workers on two other hosts, sharing one PostgreSQL and one broker over the
network, and the send split between them.

The hosts are Linux network namespaces on this machine (``ip netns``), each with its own
network stack, loopback and host name (``unshare --uts``), joined to the first host by a
bridge: a worker there cannot reach this host's 127.0.0.1, only the addresses on the bridge.
PostgreSQL, Redis and the SMTP server listen on the bridge; the issue is sent from this host.
Root only (namespaces and links); skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.db import make_engine, session_factory, upgrade
from newsletter.models import Delivery, DeliveryState
from tests.helpers.env import ROOT, clean_environ
from tests.helpers.fault_rig import Rig, fault_settings
from tests.helpers.fault_servers import FaultySmtp, PrivatePostgres, PrivateRedis, SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.slow]

HOSTS = ("reviews-worker-1", "reviews-worker-2")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture
def network() -> Iterator[tuple[str, list[str]]]:
    """A bridge with this host on ``10.231.N.1`` and one namespace per worker host on .2, .3:
    (this host's address, the namespaces)."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        pytest.skip("needs root, ip (iproute2) and unshare to make network namespaces")
    net = os.getpid() % 250  # two runs at once (CI and a developer) get different names
    bridge, here = f"nlbr{net}", f"10.231.{net}.1"
    names = [f"nl{net}h{n}" for n in range(len(HOSTS))]
    try:
        _ip("link", "add", bridge, "type", "bridge")
    except RuntimeError as exc:
        pytest.skip(f"cannot make a bridge here: {exc}")
    try:
        _ip("addr", "add", f"{here}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for n, name in enumerate(names):
            _ip("netns", "add", name)
            _ip("link", "add", f"{name}a", "type", "veth", "peer", "name", f"{name}b")
            _ip("link", "set", f"{name}a", "master", bridge)
            _ip("link", "set", f"{name}a", "up")
            _ip("link", "set", f"{name}b", "netns", name)
            _ip("-n", name, "addr", "add", f"10.231.{net}.{n + 2}/24", "dev", f"{name}b")
            _ip("-n", name, "link", "set", f"{name}b", "up")
            _ip("-n", name, "link", "set", "lo", "up")
        yield here, names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def test_workers_on_two_other_hosts_share_the_send(
    network: tuple[str, list[str]], tmp_path: Path
) -> None:
    here, namespaces = network
    postgres = PrivatePostgres(host=here, network=f"{here.rpartition('.')[0]}.0/24")
    broker = PrivateRedis(tmp_path, host=here)
    smtp = FaultySmtp()
    server = SmtpServer(smtp, host=here)
    postgres.start()
    broker.start()
    server.start()
    postgres.execute("CREATE DATABASE several")
    smtp_url = f"smtp://{here}:{server.port}"
    settings = fault_settings(postgres.url("several"), broker.url, smtp_url, tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    rig = Rig(settings, session_factory(engine), smtp, server, postgres, broker, tmp_path)
    try:
        for host, namespace in zip(HOSTS, namespaces, strict=True):
            # The worker's own network stack and host name; the same code and settings.
            log = tmp_path / f"{host}.log"
            with log.open("w") as out:
                rig.started.append(
                    subprocess.Popen(
                        [
                            "ip",
                            "netns",
                            "exec",
                            namespace,
                            "unshare",
                            "--uts",
                            "sh",
                            "-c",
                            f'hostname {host} && exec "$@"',
                            "sh",
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "worker",
                            "worker",
                            "--loglevel=INFO",
                            "-Q",
                            "newsletter",
                            "-n",
                            "w@%h",
                        ],
                        cwd=ROOT,
                        env=clean_environ(**settings.as_environ()),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        rig.wait_for(
            lambda: all(" ready." in (tmp_path / f"{h}.log").read_text() for h in HOSTS),
            60,
            "both hosts' workers",
        )
        isolated = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespaces[0],
                sys.executable,
                "-c",
                f"import socket; socket.create_connection(('127.0.0.1', {postgres.port}), 2)",
            ],
            capture_output=True,
        )
        assert isolated.returncode != 0  # the other host's 127.0.0.1 is its own
        issue_id, emails = rig.issue()
        started = rig.send(issue_id)
        ended = rig.wait_until_sent(issue_id, 120)
        with rig.factory() as session:
            holders = session.scalars(
                select(Delivery.claimed_by).where(
                    Delivery.issue_id == issue_id, Delivery.state == DeliveryState.SENT
                )
            ).all()
        by_host = {
            host: sum(1 for h in holders if (h or "").startswith(f"{host}:")) for host in HOSTS
        }
        result = rig.outcome(
            "Two worker hosts, one database and broker",
            emails,
            started,
            ended,
            ", ".join(f"{host} sent {count}" for host, count in by_host.items()),
        )
        assert result.lost == 0 and result.duplicates == 0
        assert all(by_host.values()), by_host  # both hosts took part
        assert sum(by_host.values()) == len(emails)
    finally:
        rig.stop_all()
        server.stop()
        broker.stop()
        engine.dispose()
        postgres.remove()
