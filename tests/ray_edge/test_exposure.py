"""Exposure: the local Ray that `seqgan train` starts listens on 127.0.0.1 only and keeps Ray's token
authentication on."""
from __future__ import annotations

import ipaddress

import pytest

ray = pytest.importorskip("ray")

from learner.remote import connect  # noqa: E402
from ray_support import config_with  # noqa: E402



def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # ::ffff:127.0.0.1 is 127.0.0.1 (dual stack)


def listening_addresses(pids: set[int]) -> dict[str, set[int]]:
    import psutil
    found: dict[str, set[int]] = {}
    for connection in psutil.net_connections(kind="inet"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in pids:
            found.setdefault(connection.laddr.ip, set()).add(connection.laddr.port)
    return found


@pytest.mark.ray
def test_the_local_cluster_listens_on_loopback_only_and_wants_a_token():
    import psutil
    from ray._raylet import AuthenticationMode, get_authentication_mode

    if ray.is_initialized():
        ray.shutdown()
    config = config_with("rollout.num_workers=2", "ray.num_cpus=2")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    assert connect(config, None) is True  # started here
    try:
        @ray.remote(num_cpus=1)
        def pid() -> int:
            import os
            return os.getpid()
        ray.get([pid.remote() for _ in range(2)])  # workers up, like rollout actors
        ray_pids = {p.pid for p in psutil.Process().children(recursive=True)} - before
        addresses = listening_addresses(ray_pids)
        assert addresses, "found no listening sockets of the local Ray"
        assert all(loopback(a) for a in addresses), f"the local Ray listens beyond loopback: {addresses}"
        assert get_authentication_mode() == AuthenticationMode.TOKEN
    finally:
        ray.shutdown()
