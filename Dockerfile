# Jellyguard's container image: the gateway only (Jellyfin and a TLS terminator are separate containers,
# see deploy/compose.yaml). The build and start steps live in deploy/image-build.sh, which CI runs too.
#
#   docker build -t jellyguard .
#
# Node 22 is the LTS line the gateway's dependencies support (Node 20, which CI tests on, reached end of
# life in April 2026; see docs on Node versions in the README). Override with --build-arg NODE_VERSION=…
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
# better-sqlite3 compiles its native module when no prebuilt one matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash deploy/image-build.sh build /src /app

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    JELLYGUARD_DATA_DIR=/data \
    JELLYGUARD_HOST=0.0.0.0 \
    JELLYGUARD_PORT=8097
# Production dependencies and the built server and PWA only: no compiler, no dev dependencies.
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8097
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "/app/bin/jellyguard.js", "health"]
# SIGTERM: requests and streams get ShutdownGraceSeconds (8) to finish, inside Docker's 10 s.
STOPSIGNAL SIGTERM
CMD ["bash", "/app/deploy/image-build.sh", "start", "/app"]
