from services.dispatcher.app import DispatcherService
from services.dispatcher.settings import DispatcherSettings
from shared.logging import configure_logging
from shared.runtime import run_service
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(DispatcherSettings)
    configure_logging("dispatcher", settings.log_level)
    run_service(lambda: DispatcherService(settings))


if __name__ == "__main__":
    main()
