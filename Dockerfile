# syntax=docker/dockerfile:1
# Build: the locked environment, without dev tools.
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY service ./service
COPY schemas ./schemas
COPY api ./api
COPY cli ./cli
RUN uv sync --frozen --no-dev --no-editable

# Run: non-root, migrations first, then the API. Several replicas may share one database.
FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 dinsos
WORKDIR /app
COPY --from=build --chown=dinsos:dinsos /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    DINSOS_DATA_DIR=/home/dinsos/data
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["sh", "-c", "dinsos migrate && exec uvicorn api.main:app --host 0.0.0.0 --port 8000 --proxy-headers --no-server-header --no-access-log --timeout-graceful-shutdown 20"]
