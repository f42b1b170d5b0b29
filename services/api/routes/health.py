from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api.deps import ConnectionsDep
from shared.health import run_probes

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    responses={
        200: {
            "description": "Each dependency's state: true when it answers.",
            "content": {
                "application/json": {
                    "example": {"kafka": True, "redis": True, "postgres": True, "status": "ok"}
                }
            },
        },
        503: {
            "description": "One is down; the body says which.",
            "content": {
                "application/json": {
                    "example": {
                        "kafka": True,
                        "redis": False,
                        "postgres": True,
                        "status": "degraded",
                    }
                }
            },
        },
    },
)
async def health(connections: ConnectionsDep) -> JSONResponse:
    """Whether the API reaches Kafka and Redis: 200 when both answer, else 503."""
    healthy, report = await run_probes(connections.probes())
    return JSONResponse(report, status_code=200 if healthy else 503)
