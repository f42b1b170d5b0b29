import signal

import uvicorn

from services.api.app import create_app
from services.api.settings import ApiSettings
from shared.logging import configure_logging
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(ApiSettings)
    configure_logging("api", settings.log_level)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal against the
    # handler that was installed before it. An ignoring handler there turns a clean
    # shutdown into exit status 0 instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep our JSON-line logging
        access_log=False,
    )


if __name__ == "__main__":
    main()
