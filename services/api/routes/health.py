from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api.deps import ConnectionsDep
from shared.health import run_probes

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(connections: ConnectionsDep) -> JSONResponse:
    """Whether the API reaches Kafka and Redis: 200 when both answer, else 503."""
    healthy, report = await run_probes(connections.probes())
    return JSONResponse(report, status_code=200 if healthy else 503)
