# Production image: one process per container (`serve`, or a one-off command).
# Not built in CI (no Docker engine on the CI machines); kept in step with the Makefile.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 AGORA_BRIDGE_LOG_FORMAT=json
WORKDIR /app

COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY agora_bridge ./agora_bridge
COPY mocks ./mocks
COPY migrations ./migrations
COPY contracts ./contracts
# Editable: migrations/ and alembic.ini stay beside the package, where `db upgrade` finds them.
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && useradd --system --uid 10001 bridge
USER bridge

ENTRYPOINT ["agora-bridge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
