"""Fetching a proxied model's result URL: at once, without credentials, and only somewhere safe.

A proxied model (flex, pro-preview, max, the proxied klein-9b) answers ``{"state":
"Completed", "result": {"image": "https://..."}}``: the image is behind a signed URL that
expires. The clients fetch it right after the answer, outside the retry loop (a failed download
never resubmits the generation: that could bill it twice), under these rules:

- **https only**; plain http only to a loopback address, and only when the client itself talks
  to a loopback address (the local emulator);
- **never to a private address**: a host that is, or resolves to, a private, loopback,
  link-local, multicast, reserved or shared (100.64.0.0/10) address, or any other that is not
  globally reachable, is refused (loopback again excepted for the emulator), and so is every
  redirect, up to :data:`MAX_RESULT_REDIRECTS`, checked the same way;
- **no credentials**: the request carries no ``Authorization``, ``cf-aig-authorization`` or
  cookie, whatever the ``httpx`` client was configured with;
- **bounded**: one deadline for the whole download (:data:`DEFAULT_DOWNLOAD_TIMEOUT`), enforced
  on every read and write (a server that trickles a byte at a time is cut off on time, see
  :mod:`._bounds`), and at most :data:`MAX_RESULT_BYTES` (the client's
  ``max_response_bytes``) after decoding (so a compressed bomb is cut off as well);
- the bytes are then checked like any image (:meth:`ImageResult.from_bytes`).

Every refusal is a :class:`ResultDownloadError` with a ``reason``.

Example:
    >>> check_result_url("https://delivery.example/img.jpeg", allow_loopback=False).host
    'delivery.example'
    >>> try:
    ...     check_result_url("https://10.0.0.7/img.jpeg", allow_loopback=False)
    ... except ResultDownloadError as exc:
    ...     print(exc.reason, "|", exc.message)
    unsafe | the result URL points at a private address: 'https://10.0.0.7/...'
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Final

import anyio
import httpx

from flux2prompt.transport import _bounds
from flux2prompt.transport._constants import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    MAX_RESULT_BYTES,
    MAX_RESULT_REDIRECTS,
)
from flux2prompt.transport._errors import ResultDownloadError
from flux2prompt.transport._request import WorkersAIRequest

__all__ = [
    "DownloadLimits",
    "ResultLink",
    "adownload_result",
    "check_resolved",
    "check_result_url",
    "download_result",
    "is_loopback_host",
]

_CREDENTIAL_HEADERS: Final = (
    "authorization",
    "cf-aig-authorization",
    "proxy-authorization",
    "x-key",  # Black Forest Labs' API key
)


@dataclass(frozen=True, slots=True)
class ResultLink:
    """A proxied answer that names its image by URL: what the client fetches next.

    ``attempts`` and ``started`` carry the generation's count and clock into the result;
    ``effective_prompt`` is the prompt the host reports having run, when it does.

    Example:
        >>> from flux2prompt.transport import build_request
        >>> req = build_request("a fox", model="flex", width=64, height=64)
        >>> ResultLink("https://delivery.example/1.jpeg", req, None, 0.0, 1, None).url
        'https://delivery.example/1.jpeg'
    """

    url: str
    request: WorkersAIRequest
    request_id: str | None
    started: float
    attempts: int
    effective_prompt: str | None


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    """How a result URL may be fetched: the deadline, the size bound, redirects, loopback.

    ``allow_loopback`` is true only for a client whose base URL is itself a loopback address.

    Example:
        >>> DownloadLimits().timeout, DownloadLimits().max_bytes // 2**20
        (60.0, 64)
    """

    timeout: float = DEFAULT_DOWNLOAD_TIMEOUT
    max_bytes: int = MAX_RESULT_BYTES
    max_redirects: int = MAX_RESULT_REDIRECTS
    allow_loopback: bool = False
    user_agent: str = "flux2-prompt"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: a loopback address, ``localhost`` or a subdomain.

    Example:
        >>> is_loopback_host("127.0.0.1"), is_loopback_host("::1"), is_loopback_host("a.test")
        (True, True, False)
    """
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _unsafe(message: str, url: str, request_id: str | None = None) -> ResultDownloadError:
    return ResultDownloadError(message, reason="unsafe", result_url=url, request_id=request_id)


def _shown(url: str) -> str:
    """How an error message shows a result URL: its origin only, since a signed URL carries
    its signature in the query; a URL with no scheme or host (a relative one) as its path.

    Example:
        >>> _shown("https://delivery.example/a/b.png?sig=s3cret"), _shown("/results/b.png?sig=x")
        ('https://delivery.example/...', '/results/b.png')
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return url[:40] + ("..." if len(url) > 40 else "")
    if not parsed.scheme or not parsed.host:
        bare = url.split("?", 1)[0].split("#", 1)[0]
        return bare[:60] + ("..." if len(bare) > 60 else "")
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}/..."


def _address_refused(address: str, allow_loopback: bool) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if ip.is_loopback:
        return not allow_loopback
    # ``is_global`` also refuses what is neither private nor public, such as the shared space
    # 100.64.0.0/10 (carrier-grade NAT, where some clouds serve instance metadata); 6to4 and
    # Teredo addresses wrap an IPv4 address that could be anything.
    return bool(
        not ip.is_global
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or getattr(ip, "ipv4_mapped", None) is not None
        or getattr(ip, "sixtofour", None) is not None
        or getattr(ip, "teredo", None) is not None
    )


def check_result_url(url: object, *, allow_loopback: bool) -> httpx.URL:
    """Return ``url`` parsed if it may be fetched (see the rules above), else raise.

    Names that are not IP addresses are checked after resolution, by :func:`check_resolved`.

    Example:
        >>> check_result_url("http://127.0.0.1:8787/results/1.jpeg", allow_loopback=True).port
        8787
    """
    if not isinstance(url, str):
        raise _unsafe(f"the result URL is not a string: {type(url).__name__}", str(url))
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _unsafe(f"the result URL is not a valid URL: {_shown(url)!r}", url) from None
    host = parsed.host
    loopback = is_loopback_host(host) if host else False
    if not parsed.is_absolute_url:
        raise _unsafe(
            f"the result URL is relative (not an absolute URL), got {_shown(url)!r}: a result is "
            "fetched only from an absolute https URL",
            url,
        )
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback and allow_loopback):
        raise _unsafe(
            f"the result URL must be https, got {_shown(url)!r} (plain http is accepted only "
            "from the local emulator)",
            url,
        )
    if not host:
        raise _unsafe(f"the result URL has no host: {_shown(url)!r}", url)
    if parsed.userinfo:
        raise _unsafe(f"the result URL carries credentials: {_shown(url)!r}", url)
    if loopback and not allow_loopback:
        raise _unsafe(f"the result URL points at this machine: {_shown(url)!r}", url)
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal.split("%", 1)[0])
    except ValueError:
        return parsed
    if _address_refused(literal, allow_loopback):
        raise _unsafe(f"the result URL points at a private address: {_shown(url)!r}", url)
    return parsed


def check_resolved(url: httpx.URL, addresses: list[str], *, allow_loopback: bool) -> None:
    """Refuse ``url`` when any address its host resolved to is private (see the rules above).

    Example:
        >>> u = httpx.URL("https://delivery.example/1.jpeg")
        >>> check_resolved(u, ["93.184.215.14"], allow_loopback=False) is None
        True
    """
    for address in addresses:
        if _address_refused(address, allow_loopback):
            raise _unsafe(
                f"the result URL's host {url.host!r} resolves to a private address ({address})",
                str(url),
            )


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # the connection attempt reports a name that does not resolve
    return [str(info[4][0]) for info in infos]


async def _aresolve(host: str, port: int) -> list[str]:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _build(
    client: httpx.Client | httpx.AsyncClient, url: httpx.URL, limits: DownloadLimits, left: float
) -> httpx.Request:
    request = client.build_request(
        "GET",
        url,
        headers={"Accept": "image/*", "User-Agent": limits.user_agent},
        timeout=httpx.Timeout(max(left, 0.001)),
        # Each connection opened for the download is bound to its deadline (sync client).
        extensions={"trace": _bounds.trace_streams}
        if isinstance(client, httpx.Client)
        else {"trace": _atrace},
    )
    # A client passed in by the user may carry default headers or cookies; none of them may
    # reach a third-party host. (Client-level auth is disabled at send time, auth=None.)
    for name in (*_CREDENTIAL_HEADERS, "cookie"):
        request.headers.pop(name, None)
    return request


async def _atrace(event: str, info: object) -> None:
    return None


def _failure(
    exc: httpx.TransportError,
    link: ResultLink,
    limits: DownloadLimits,
    deadline: float,
) -> ResultDownloadError:
    url, request_id = link.url, link.request_id
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline - 0.01:
        # The whole download's deadline (each read is bound to it): said as the async client
        # says it, naming the option that sets it.
        return _timed_out(link, limits)
    if isinstance(exc, httpx.TimeoutException):
        return ResultDownloadError(
            f"the result URL {_shown(url)!r} did not answer in time ({detail})",
            reason="timeout",
            result_url=url,
            request_id=request_id,
        )
    return ResultDownloadError(
        f"could not fetch the result URL {_shown(url)!r}: {detail}",
        reason="connection",
        result_url=url,
        request_id=request_id,
    )


def _next_hop(response: httpx.Response, url: httpx.URL, link: ResultLink) -> httpx.URL | int | None:
    """A redirect's target, else the declared length of a 200 (``None`` when not declared);
    anything else raises."""
    if response.is_redirect:
        location = response.headers.get("location")
        if not location:
            raise _refused(response, link, "the result URL without a Location")
        return url.join(location)
    if response.status_code != 200:
        expired = " (an expired URL answers this way)" if response.status_code in (403, 410) else ""
        raise _refused(response, link, f"the result URL {_shown(link.url)!r}{expired}")
    return _bounds.declared_length(response)


def _refused(response: httpx.Response, link: ResultLink, what: str) -> ResultDownloadError:
    """The error of an answer from the result URL with a status that delivers no image."""
    return ResultDownloadError(
        f"HTTP {response.status_code} from {what}",
        reason="status",
        result_url=link.url,
        status_code=response.status_code,
        request_id=link.request_id,
    )


def _too_large(link: ResultLink, limits: DownloadLimits, size: str) -> ResultDownloadError:
    return ResultDownloadError(
        f"the result image is larger than {limits.max_bytes:,} bytes ({size})",
        reason="too_large",
        result_url=link.url,
        request_id=link.request_id,
    )


def _timed_out(link: ResultLink, limits: DownloadLimits) -> ResultDownloadError:
    return ResultDownloadError(
        f"the result URL {_shown(link.url)!r} was not downloaded within {limits.timeout:g} s "
        "(download_timeout=)",
        reason="timeout",
        result_url=link.url,
        request_id=link.request_id,
    )


def _image_bytes(body: _bounds.Body, link: ResultLink, limits: DownloadLimits) -> bytes:
    """The image read by :func:`_bounds.collect_body` (or its async twin), refused when it was
    larger than ``limits.max_bytes``."""
    if body.truncated:
        raise _too_large(link, limits, body.excess)
    return body.content


def download_result(client: httpx.Client, link: ResultLink, limits: DownloadLimits) -> bytes:
    """Fetch ``link.url`` with ``client`` under ``limits`` and return the (decoded) bytes.

    Example:
        >>> from flux2prompt.transport import build_request
        >>> req = build_request("a fox", model="flex", width=64, height=64)
        >>> link = ResultLink("http://10.1.2.3/x.jpeg", req, None, 0.0, 1, None)
        >>> try:
        ...     download_result(httpx.Client(), link, DownloadLimits())
        ... except ResultDownloadError as exc:
        ...     print(exc.message[:31])
        the result URL must be https, g
    """
    with _bounds.sync_deadline(limits.timeout) as deadline_at:
        assert deadline_at is not None
        return _download(client, link, limits, deadline_at)


def _download(
    client: httpx.Client, link: ResultLink, limits: DownloadLimits, deadline: float
) -> bytes:
    target: object = link.url
    for _ in range(limits.max_redirects + 1):
        url = check_result_url(str(target), allow_loopback=limits.allow_loopback)
        if not _is_literal(url.host):
            resolved = _resolve(url.host, _port(url))
            check_resolved(url, resolved, allow_loopback=limits.allow_loopback)
        request = _build(client, url, limits, deadline - time.monotonic())
        try:
            response = client.send(request, stream=True, auth=None, follow_redirects=False)
        except httpx.TransportError as exc:
            raise _failure(exc, link, limits, deadline) from exc
        try:
            hop = _next_hop(response, url, link)
            if isinstance(hop, httpx.URL):
                target = str(hop)
                continue
            try:
                body = _bounds.collect_body(
                    response.iter_bytes(),
                    hop,
                    limit=limits.max_bytes,
                    deadline_at=deadline,
                    on_deadline=lambda: _timed_out(link, limits),
                )
                return _image_bytes(body, link, limits)
            except httpx.TransportError as exc:
                raise _failure(exc, link, limits, deadline) from exc
        finally:
            response.close()
    raise _unsafe(f"the result URL redirected more than {limits.max_redirects} times", link.url)


async def adownload_result(
    client: httpx.AsyncClient, link: ResultLink, limits: DownloadLimits
) -> bytes:
    """The async twin of :func:`download_result` (same rules, same errors).

    Example:
        >>> import asyncio
        >>> from flux2prompt.transport import build_request
        >>> req = build_request("a fox", model="flex", width=64, height=64)
        >>> link = ResultLink("ftp://delivery.example/x.jpeg", req, None, 0.0, 1, None)
        >>> try:
        ...     asyncio.run(adownload_result(httpx.AsyncClient(), link, DownloadLimits()))
        ... except ResultDownloadError as exc:
        ...     print(exc.reason)
        unsafe
    """
    deadline = time.monotonic() + limits.timeout
    try:
        # A cancel scope cuts any await off at the deadline (a trickling server included).
        with anyio.fail_after(limits.timeout):
            return await _adownload(client, link, limits, deadline)
    except TimeoutError:
        raise _timed_out(link, limits) from None


async def _adownload(
    client: httpx.AsyncClient, link: ResultLink, limits: DownloadLimits, deadline: float
) -> bytes:
    target: object = link.url
    for _ in range(limits.max_redirects + 1):
        url = check_result_url(str(target), allow_loopback=limits.allow_loopback)
        if not _is_literal(url.host):
            resolved = await _aresolve(url.host, _port(url))
            check_resolved(url, resolved, allow_loopback=limits.allow_loopback)
        request = _build(client, url, limits, deadline - time.monotonic())
        try:
            response = await client.send(request, stream=True, auth=None, follow_redirects=False)
        except httpx.TransportError as exc:
            raise _failure(exc, link, limits, deadline) from exc
        try:
            hop = _next_hop(response, url, link)
            if isinstance(hop, httpx.URL):
                target = str(hop)
                continue
            try:
                body = await _bounds.acollect_body(
                    response.aiter_bytes(),
                    hop,
                    limit=limits.max_bytes,
                    deadline_at=deadline,
                    on_deadline=lambda: _timed_out(link, limits),
                )
                return _image_bytes(body, link, limits)
            except httpx.TransportError as exc:
                raise _failure(exc, link, limits, deadline) from exc
        finally:
            await response.aclose()
    raise _unsafe(f"the result URL redirected more than {limits.max_redirects} times", link.url)
