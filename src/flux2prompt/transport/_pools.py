"""Many small connection pools behind one httpx transport, for the async client at high
concurrency.

httpcore's pool does bookkeeping over every connection and every waiting request each time a
request starts or ends, so its cost per request grows with the pool: on the 2-core machine of
``docs/performance.md``, one pool of 64 keep-alive connections costs about 20 ms of CPU per
request and the client falls to about 15% of the ideal throughput at concurrency 64, while
httpx's default pool (100 connections, 20 kept alive) closes and reopens connections at that
concurrency. Split over pools of at most :data:`POOL_SIZE` connections, each request pays for
a pool of 8 however large the whole, and every connection can stay alive.

Each request goes to the pool with the fewest requests in flight (the lowest index on a tie,
so a light load keeps reusing the same warm connections); a request counts until its response
is closed. Everything else (timeouts, the ``trace`` extension that tells the retry policy how
far an attempt got, TLS, proxies from the environment) is httpx's own
``AsyncHTTPTransport``, one per pool.

Example:
    >>> import httpx
    >>> transport = PooledTransport(connections=64)
    >>> transport.pools, transport.connections
    (8, 64)
    >>> client = httpx.AsyncClient(transport=transport)  # what AsyncWorkersAI makes for itself
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import httpx

if TYPE_CHECKING:
    from httpx._types import CertTypes

__all__ = ["DEFAULT_CONNECTIONS", "POOL_SIZE", "PooledTransport"]

#: The most connections in one pool: small enough that httpcore's bookkeeping stays cheap.
POOL_SIZE: Final = 8
#: The connections of the async client's own transport (httpx's default ``max_connections``).
DEFAULT_CONNECTIONS: Final = 100


class _CountedStream(httpx.AsyncByteStream):
    """A response body that gives its pool's place back once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: _Release) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class _Release:
    """Decrement one pool's count at most once (a body may be closed twice)."""

    __slots__ = ("_busy", "_done", "_index")

    def __init__(self, busy: list[int], index: int) -> None:
        self._busy = busy
        self._index = index
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._busy[self._index] -= 1


class PooledTransport(httpx.AsyncBaseTransport):
    """An httpx async transport over ``ceil(connections / pool_size)`` small connection pools.

    ``connections`` is the most connections open at once (all of them kept alive), split into
    pools of at most ``pool_size``. :class:`AsyncWorkersAI` uses one with
    :data:`DEFAULT_CONNECTIONS` for the client it makes itself; give one to your own
    ``httpx.AsyncClient`` to choose the size (``timeout`` and the rest stay the client's).
    ``verify``, ``cert`` and ``trust_env`` are httpx's; the pools share one TLS context. Other
    keyword arguments go to each pool's ``httpx.AsyncHTTPTransport`` (``http2``, ``proxy``,
    ``local_address``, ...).

    Example:
        >>> import httpx
        >>> from flux2prompt.transport import DEFAULT_TIMEOUT, AsyncWorkersAI, PooledTransport
        >>> http = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT,
        ...                          transport=PooledTransport(connections=256))
        >>> client = AsyncWorkersAI(account_id="acc", api_token="tok", http_client=http)
        >>> PooledTransport(connections=20, pool_size=8).pools
        3
    """

    def __init__(
        self,
        connections: int = DEFAULT_CONNECTIONS,
        *,
        pool_size: int = POOL_SIZE,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        **transport_options: object,
    ) -> None:
        for name, value in (("connections", connections), ("pool_size", pool_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        pools = math.ceil(connections / pool_size)
        # Spread evenly: 20 connections in pools of 8 are 7 + 7 + 6, not 8 + 8 + 4.
        sizes = [connections // pools + (index < connections % pools) for index in range(pools)]
        self.connections = connections
        self.pools = pools
        # One TLS context for every pool: building one loads the CA bundle (50 to 150 ms here),
        # which 13 pools would otherwise pay 13 times each time a client is made.
        context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        )
        self._pools = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                verify=context,
                trust_env=trust_env,
                **transport_options,  # type: ignore[arg-type]
            )
            for size in sizes
        ]
        self._busy = [0] * pools

    def __repr__(self) -> str:
        return f"PooledTransport(connections={self.connections}, pools={self.pools})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool with the fewest requests in flight."""
        busy = self._busy
        index = busy.index(min(busy))
        busy[index] += 1
        release = _Release(busy, index)
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(stream, release)
        return response

    async def aclose(self) -> None:
        """Close every pool."""
        for pool in self._pools:
            await pool.aclose()
