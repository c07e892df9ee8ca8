"""The webhook receiver as ``aftercare serve`` runs it, plus a bare hello-world route.

Started by ``bench/ingest.py`` in its own process: the same Starlette app and uvicorn
settings, so the hello route measures what the server costs before Aftercare does any work.
"""

from __future__ import annotations

import argparse

import uvicorn
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aftercare.receiver import build_app, build_receiver
from aftercare.settings import Settings
from aftercare.storage.database import engine_for
from aftercare.storage.schema_migrations import upgrade


async def hello(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"hello": "world"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # A link secret of its own: with PostgreSQL the receiver refuses to start without one.
    settings = Settings(
        database_url=args.database_url,
        link_secret=SecretStr("bench-ingest-opt-out-link-secret-0123456789"),
        _env_file=None,
    )
    upgrade(engine_for(settings.database_url))
    app = build_app(build_receiver(settings, nudge=lambda: None))
    app.router.routes.append(Route("/hello", hello, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
