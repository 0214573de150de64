"""PooledTransport: many small httpcore pools behind one transport, over real HTTP."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from flux2prompt.emulator import serve
from flux2prompt.transport import AsyncWorkersAI, PooledTransport


def test_connections_are_split_evenly_into_small_pools() -> None:
    assert (PooledTransport(64).pools, PooledTransport(256).pools) == (8, 32)
    assert PooledTransport(1).pools == 1
    transport = PooledTransport(20, pool_size=8)
    sizes = [pool._pool._max_connections for pool in transport._pools]
    assert sizes == [7, 7, 6]
    assert "pools=3" in repr(transport)
    with pytest.raises(ValueError, match="connections must be an integer >= 1"):
        PooledTransport(0)


async def test_concurrent_requests_spread_over_the_pools_and_give_their_place_back() -> None:
    transport = PooledTransport(12, pool_size=4)
    with serve(latency_ms=50) as emu:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncWorkersAI(
                account_id="acc", api_token="tok", base_url=emu.base_url, http_client=http
            ) as client,
        ):
            results = await asyncio.gather(
                *(client.generate("a fox", width=256, height=256, seed=n) for n in range(24))
            )
            assert transport._busy == [0, 0, 0]
            # Every pool took a share: a single pool of 4 could not hold 12 in flight.
            open_connections = [len(pool._pool.connections) for pool in transport._pools]
            assert all(count > 0 for count in open_connections)
            assert sum(open_connections) <= 12
    assert len(results) == 24
    assert all(result.attempts == 1 for result in results)


async def test_a_failed_request_gives_its_place_back() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    transport = PooledTransport(4, pool_size=2)
    async with httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")
    assert transport._busy == [0, 0]


async def test_a_light_load_keeps_reusing_the_first_pool() -> None:
    transport = PooledTransport(16, pool_size=4)
    with serve() as emu:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncWorkersAI(
                account_id="acc", api_token="tok", base_url=emu.base_url, http_client=http
            ) as client,
        ):
            for seed in range(5):
                await client.generate("a fox", width=256, height=256, seed=seed)
            counts = [len(pool._pool.connections) for pool in transport._pools]
    assert counts == [1, 0, 0, 0]


async def test_the_clients_own_pool_is_a_pooled_transport() -> None:
    async with AsyncWorkersAI(account_id="acc", api_token="tok") as client:
        transport = client._client._transport
    assert isinstance(transport, PooledTransport)
    assert (transport.connections, transport.pools) == (100, 13)


def test_the_pools_share_one_tls_context() -> None:
    # Building a context loads the CA bundle (tens of ms): once per transport, not per pool.
    import ssl

    transport = PooledTransport(256)
    contexts = {id(pool._pool._ssl_context) for pool in transport._pools}
    assert len(contexts) == 1
    own = ssl.create_default_context()
    given = PooledTransport(16, verify=own)
    assert all(pool._pool._ssl_context is own for pool in given._pools)
