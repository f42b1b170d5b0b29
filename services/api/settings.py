from shared.settings import Settings


class ApiSettings(Settings):
    """The API listens on API_HOST:API_PORT (127.0.0.1:8000 by default)."""
