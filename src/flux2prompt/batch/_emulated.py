"""The one way to run against the local emulator: start it, and say where and as whom to connect.

:func:`emulated` is the recipe the batch runner (``emulator=True``) and the command line's
``batch --emulator`` and ``generate --emulator`` all use, so there is one placeholder account,
one placeholder token (the emulator accepts any bearer token unless its config names one), and
one place that knows which URLs a client points at.

The emulator lives beside the transport and imports nothing of it; it needs Pillow (an optional
extra), so it is imported only when an emulator is started.

Example:
    >>> from flux2prompt.transport import WorkersAI
    >>> with emulated(seed=1) as endpoint:
    ...     with WorkersAI(**endpoint.client_options(), model="klein-4b") as client:
    ...         client.generate("a paper crane", width=256, height=256).width
    256
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from flux2prompt.emulator import EmulatorConfig

__all__ = ["EMULATOR_ACCOUNT_ID", "EMULATOR_TOKEN", "EmulatorEndpoint", "emulated"]

#: The account id a client sends to the emulator (any path segment would do).
EMULATOR_ACCOUNT_ID = "emulator"
#: The bearer token sent to an emulator that requires none (it accepts any non-empty token).
EMULATOR_TOKEN = "emulator-token"


class _ClientOptions(TypedDict):
    account_id: str
    api_token: str
    base_url: str
    gateway_base_url: str


@dataclass(frozen=True, slots=True)
class EmulatorEndpoint:
    """Where a running emulator listens and the credentials a client sends it.

    Example:
        >>> with emulated() as endpoint:
        ...     endpoint.account_id, endpoint.base_url.endswith("/client/v4")
        ('emulator', True)
    """

    base_url: str
    gateway_base_url: str
    account_id: str = EMULATOR_ACCOUNT_ID
    api_token: str = field(default=EMULATOR_TOKEN, repr=False)
    #: The emulator's Black Forest Labs mode (``.../bfl``), for ``BFL(base_url=...)``.
    bfl_base_url: str = ""

    def client_options(self) -> _ClientOptions:
        """The keyword arguments that point a ``WorkersAI`` or ``AsyncWorkersAI`` here.

        Example:
            >>> endpoint = EmulatorEndpoint("http://127.0.0.1:9/client/v4", "http://127.0.0.1:9/gw")
            >>> endpoint.client_options()["account_id"]
            'emulator'
        """
        return {
            "account_id": self.account_id,
            "api_token": self.api_token,
            "base_url": self.base_url,
            "gateway_base_url": self.gateway_base_url,
        }


@contextlib.contextmanager
def emulated(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[EmulatorEndpoint]:
    """Run a local Workers AI emulator for a ``with`` block and yield where to connect.

    ``config`` and ``overrides`` are those of :func:`flux2prompt.emulator.serve`. The token sent
    is the config's own when it requires one, else :data:`EMULATOR_TOKEN`.

    Example:
        >>> with emulated(image_format="png") as endpoint:
        ...     endpoint.base_url.startswith("http://127.0.0.1:")
        True
    """
    from flux2prompt.emulator import serve

    with serve(config, **overrides) as emulator:
        yield EmulatorEndpoint(
            base_url=emulator.base_url,
            gateway_base_url=emulator.gateway_base_url,
            api_token=emulator.config.token or EMULATOR_TOKEN,
            bfl_base_url=emulator.bfl_base_url,
        )
