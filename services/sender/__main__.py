from services.sender.app import SenderService
from services.sender.settings import SenderSettings
from shared.logging import configure_logging
from shared.runtime import run_service
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(SenderSettings)
    configure_logging("sender", settings.log_level)
    run_service(lambda: SenderService(settings))


if __name__ == "__main__":
    main()
