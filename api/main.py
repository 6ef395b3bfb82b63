"""``uvicorn api.main:app``: the app with settings from the environment (used by the container)."""

from api.app import create_app

app = create_app()
