"""``uvicorn api.main:app``: the app with settings from the environment (used by the container).

Logging is configured here as well as in ``dinsos serve``: otherwise uvicorn's own access log
would print raw paths with their query strings, and a NIK searched for would reach the logs."""

from api.app import create_app
from api.observability import configure_logging
from service.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()
