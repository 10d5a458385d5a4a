# orch-watchdog container image.
#   docker build -t orch-watchdog .
#   docker run --pid host -v /var/run/docker.sock:/var/run/docker.sock:ro -p 127.0.0.1:8787:8787 orch-watchdog
# NODE_BASE must be a Debian-like Node 20 image (node:20-slim), or any base that already
# carries node, npm, /bin/sh, tini and a `node` user (uid 1000).
ARG NODE_BASE=node:20-slim

FROM ${NODE_BASE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; no dependency needs its install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY routes ./routes
COPY scripts ./scripts
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_BASE} AS runtime
# tini forwards SIGTERM and, as a subreaper (-s), reaps what merge-gate re-tests orphan even
# under pid: host where this process is not PID 1; bases that already carry it skip apt.
RUN command -v tini >/dev/null 2>&1 \
 || (apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*)
WORKDIR /app
# XDG_CACHE_HOME: the root filesystem may be read-only (compose read_only); caches go to the /tmp tmpfs.
ENV NODE_ENV=production \
    WATCHDOG_HOST=0.0.0.0 \
    WATCHDOG_PORT=8787 \
    XDG_CACHE_HOME=/tmp/.cache
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
USER node
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--"]
CMD ["node", "dist/src/server.js"]

ARG NODE_BASE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="orch-watchdog" \
      org.opencontainers.image.description="Watchdog sidecar for an orchestrator of dev-pipeline agents: alerts on hung agents, host pressure and orphaned test processes; runs merge-gate re-tests that leave no process behind." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${NODE_BASE}"
