# One image for every part of the exchange; docker-compose.yml picks the part by its command.
# The wheels of every dependency (uvloop, asyncpg, hiredis, orjson, msgspec) are manylinux
# builds, so the slim image needs no compiler.

# The trading page's chart library, from the pinned lockfile (the browser never fetches code).
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The parts run as an unprivileged user; the snapshot folder is theirs (a new named volume
# mounted there takes this ownership).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin exchange \
    && mkdir -p /data/snapshots \
    && chown exchange /data/snapshots

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY snapshots ./snapshots
COPY gateway ./gateway
COPY worker ./worker
COPY poller ./poller
COPY devstack ./devstack
COPY --from=web /web/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.mjs \
     gateway/static/vendor/lightweight-charts.js
COPY --from=web /web/node_modules/lightweight-charts/LICENSE \
     gateway/static/vendor/lightweight-charts.LICENSE
RUN pip install . && python -c "import engine, gateway, worker, poller, snapshots"

USER exchange
ENV SNAPSHOT_DIR=/data/snapshots
CMD ["python", "-m", "gateway", "--help"]
