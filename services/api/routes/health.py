from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.health import run_probes

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Whether the API reaches Kafka and Redis: 200 when both answer, else 503."""
    healthy, report = await run_probes(request.app.state.connections.probes())
    return JSONResponse(report, status_code=200 if healthy else 503)
