"""The lab's HTTP app: its pages and scripts, all served by itself (the page works offline and
its Content-Security-Policy forbids anything else), and a JSON API over the computations. Thin:
the work is in `playground`."""

from __future__ import annotations

import sys
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from cnnlab.lab import playground

STATIC = resources.files("cnnlab.lab") / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
# Nothing from elsewhere: no CDN, no font service, no inline script.
POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
          "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")


def _static(name: str) -> FileResponse:
    path = STATIC / name
    suffix = name[name.rfind("."):]
    return FileResponse(str(path), media_type=TYPES[suffix])


def create_app() -> FastAPI:
    app = FastAPI(title="cnnlab lab", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(ValueError)
    async def refused(_request: Request, error: ValueError):
        """A setting the layer cannot take: the sentence the command line prints."""
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception):
        """A fault of ours: said, logged, and the server goes on serving."""
        print(f"cnnlab lab: {request.method} {request.url.path}: {type(error).__name__}: "
              f"{error}", file=sys.stderr, flush=True)
        return JSONResponse({"detail": f"the lab failed on this request ({type(error).__name__}"
                                       f": {error}); the server goes on serving"},
                            status_code=500)

    @app.get("/")
    def index():
        return RedirectResponse("/playground")

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/playground")
    def playground_page():
        return _static("playground.html")

    @app.get("/static/{name}")
    def static(name: str):
        if name not in {"playground.js", "lab.css"}:
            return JSONResponse({"detail": f"no such file: {name}"}, status_code=404)
        return _static(name)

    @app.get("/api/playground")
    def playground_api(request: Request):
        return playground.compute(request.query_params)

    @app.get("/api/playground/examples")
    def examples():
        return playground.example_links()

    return app
