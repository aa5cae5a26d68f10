"""The HTTP server: every simulated API and the ``/_sim`` endpoints on one port."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from socialsim.apis import (
    cdn,
    control,
    rocket,
    scraper,
    tikapi23,
    tiktok_research,
    tiktok_truth,
    tikwm,
    youtube,
)
from socialsim.sim import Sim, SimConfig

log = logging.getLogger("socialsim")


def build_app(sim: Sim) -> Starlette:
    """The ASGI app serving one simulator.

    Args:
        sim: the simulator's state.

    Returns:
        A Starlette app with the RocketAPI, scraper, YouTube, tikapi23, tikwm, TikTok Research,
        CDN and ``/_sim`` routes.
    """
    routes = [
        *rocket.routes(sim),
        *scraper.routes(sim),
        *youtube.routes(sim),
        *tikapi23.routes(sim),
        *tikwm.routes(sim),
        *tiktok_research.routes(sim),
    ]
    return Starlette(
        routes=[*routes, *cdn.routes(sim), *control.routes(sim), *tiktok_truth.routes(sim)]
    )


class _QuietDrops(logging.Filter):
    """Hides uvicorn's complaint about the responses the "drop" fault leaves unfinished."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


class _Server(uvicorn.Server):
    """uvicorn's server with an event for "accepting connections" (it only keeps a flag)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(config: SimConfig, *, host: str, port: int, on_ready: Callable[[str, int], None]) -> None:
    """Build the world, listen, and serve until SIGINT or SIGTERM.

    Args:
        config: the simulator's settings.
        host: interface to listen on.
        port: port (0 picks a free one).
        on_ready: called with the base URL and the pid once connections are accepted.
    """
    sim = Sim(config)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    uvicorn_config = uvicorn.Config(
        build_app(sim),
        loop="auto",
        http="auto",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=1,
        # The APIs set Date to the simulated clock; uvicorn's own would be a second one.
        date_header=False,
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())

    async def run() -> None:
        server = _Server(uvicorn_config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        started = asyncio.create_task(server.ready.wait())
        await asyncio.wait((serving, started), return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if server.started:
            on_ready(f"http://{url_host}:{bound_port}", os.getpid())
            log.info("serving on port %d (seed %d)", bound_port, config.world.seed)
        await serving

    with asyncio.Runner(loop_factory=uvicorn_config.get_loop_factory()) as runner:
        runner.run(run())
