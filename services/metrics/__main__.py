from services.metrics.app import MetricsService
from services.metrics.settings import MetricsSettings
from shared.logging import configure_logging
from shared.runtime import run_service
from shared.settings import load_settings


def main() -> None:
    settings = load_settings(MetricsSettings)
    configure_logging("metrics", settings.log_level)
    run_service(lambda: MetricsService(settings))


if __name__ == "__main__":
    main()
