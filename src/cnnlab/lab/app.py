"""The lab's HTTP app: its pages and scripts, all served by itself (the page works offline and
its Content-Security-Policy forbids anything else), and a JSON API over the computations. Thin:
the work is in `playground` and `explorer`."""

from __future__ import annotations

import sys
from importlib import resources

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cnnlab.lab import playground, uploads
from cnnlab.lab.explorer import Explorer
from cnnlab.lab.runs import RunsView

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


SCRIPTS = {"lab.js", "playground.js", "explorer.js", "runs.js", "lab.css"}


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused as soon as it passes `limit` bytes (nothing more is read)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise ValueError(f"the upload is larger than {limit / 1024 / 1024:.0f} MiB, the "
                             "most the lab takes; make the image smaller first")
    return bytes(received)


def create_app(explorer: Explorer | None = None) -> FastAPI:
    """The lab: the playground, the explorer over `explorer`'s models and its run folders side
    by side (none: those pages say how to start the lab with some)."""
    explorer = explorer or Explorer([])
    runs = RunsView(explorer.run_folders(), explorer.data_dir)
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

    @app.exception_handler(LookupError)
    async def unknown(_request: Request, error: LookupError):
        return JSONResponse({"detail": str(error.args[0] if error.args else error)},
                            status_code=404)

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
        return RedirectResponse("/explorer" if explorer.models else "/playground")

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/playground")
    def playground_page():
        return _static("playground.html")

    @app.get("/static/{name}")
    def static(name: str):
        if name not in SCRIPTS:
            return JSONResponse({"detail": f"no such file: {name}"}, status_code=404)
        return _static(name)

    @app.get("/api/playground")
    def playground_api(request: Request):
        return playground.compute(request.query_params)

    @app.get("/api/playground/examples")
    def examples():
        return playground.example_links()

    @app.get("/explorer")
    def explorer_page():
        return _static("explorer.html")

    @app.get("/api/explorer")
    def models():
        return {"models": explorer.listing()}

    @app.get("/api/explorer/{key}")
    def model(key: str):
        return explorer.get(key).describe()

    @app.get("/api/explorer/{key}/features")
    def features(key: str, image: str = "test:0", stage: str = "", channels: str = ""):
        return explorer.get(key).features(image, stage, channels)

    @app.get("/api/explorer/{key}/kernels")
    def kernels(key: str, layer: str = "", first: str = ""):
        return explorer.get(key).kernels(layer, first)

    @app.get("/api/explorer/{key}/attribution")
    def attribution(key: str, image: str = "test:0", layer: str = "",
                    target_class: str = Query("", alias="class")):
        return explorer.get(key).attribution(image, target_class, layer)

    @app.get("/api/explorer/{key}/confusion")
    def confusion(key: str):
        return explorer.get(key).confusion()

    @app.get("/api/explorer/{key}/gallery")
    def gallery(key: str, true: str = "", predicted: str = "", wrong: str = "",
                offset: str = "0", limit: str = "60"):
        return explorer.get(key).gallery(true, predicted, wrong, offset, limit)

    @app.get("/api/explorer/{key}/test/{index}.png")
    def thumbnail(key: str, index: str):
        return Response(explorer.get(key).thumbnail(index), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/runs")
    def runs_page():
        return _static("runs.html")

    @app.get("/api/runs")
    def runs_overview():
        return runs.overview()

    @app.get("/api/runs/pareto")
    def runs_pareto(split: str = "test", speed: str = "images"):
        return runs.pareto(split, speed)

    @app.post("/api/explorer/{key}/upload")
    async def upload(key: str, request: Request, invert: str = "auto"):
        model = explorer.get(key)
        data = await _body(request, uploads.MAX_BYTES)
        return await run_in_threadpool(model.upload, data, invert)

    return app
