# orch-watchdog container image.
#   docker build -t orch-watchdog .
#   docker run --pid host -v /var/run/docker.sock:/var/run/docker.sock:ro -p 127.0.0.1:8787:8787 orch-watchdog
# On top of the orchestrator's own test image, so merge-gate re-tests find pytest (or whatever
# the suite needs) inside the container, and `orch-watchdog run` works there too:
#   docker build --build-arg BASE_IMAGE=registry.example/orchestrator-tests:latest --build-arg NODE_FROM=copy -t orch-watchdog:tests .
# NODE_BASE must be a Node 24 image (node:24-slim; Node 24 LTS is the supported line), or any base that
# carries Node >= 22.19 (package.json engines), npm and /bin/sh.
# BASE_IMAGE (default: NODE_BASE itself) needs glibc >= 2.28, libstdc++ and /bin/sh, and git or
# apt-get/dnf to install it: any Debian, Ubuntu or RHEL-family image has them (apt and dnf need
# libstdc++ themselves).
ARG NODE_BASE=node:24-slim
ARG BASE_IMAGE=${NODE_BASE}
# `copy`: put NODE_BASE's node into BASE_IMAGE (a test image without Node, or with another one);
# `base`: BASE_IMAGE's own node, so the default image does not carry a second 100 MB copy.
ARG NODE_FROM=base
# Builds the runner's subreaper helper: NODE_BASE, where apt-get brings gcc and libc6-dev, or any
# image that has a C compiler and a static libc (gcc:14).
ARG CC_IMAGE=${NODE_BASE}

# The helper linked statically, so it runs on any BASE_IMAGE whatever its libc.
FROM ${CC_IMAGE} AS subreaper
WORKDIR /app
COPY scripts/build-subreaper.sh ./scripts/
COPY src/runner/subreaper.c ./src/runner/
RUN { command -v cc || command -v gcc; } >/dev/null 2>&1 \
 || { apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*; } \
 && SUBREAPER_LDFLAGS="-static -s" sh scripts/build-subreaper.sh && test -x dist/src/runner/subreaper \
 || { echo "orch-watchdog: CC_IMAGE could not build the subreaper helper (it needs a C compiler and a static libc)" >&2; exit 1; }

FROM ${NODE_BASE} AS build
WORKDIR /app
RUN node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)' \
 || { echo "orch-watchdog: NODE_BASE has Node $(node --version); it needs Node >= 22.19 (Node 24 LTS: node:24-slim)" >&2; exit 1; }
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; no dependency needs its install script.
# --omit=optional: the optional dependency is Node 24 for machines whose own node is older; the image has its own.
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY routes ./routes
COPY scripts ./scripts
RUN npm run build \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# Node and tini as two files, so the runtime stage can drop them onto any glibc base.
FROM ${NODE_BASE} AS node
RUN mkdir -p /out \
 && cp "$(command -v node)" /out/node \
 && if ! command -v tini-static >/dev/null 2>&1 && ! command -v tini >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; \
    fi \
 && cp "$(command -v tini-static || command -v tini)" /out/tini

FROM ${BASE_IMAGE} AS runtime-node-base
FROM ${BASE_IMAGE} AS runtime-node-copy
COPY --from=node /out/node /usr/local/bin/node

FROM runtime-node-${NODE_FROM} AS runtime
# tini forwards SIGTERM and, as a subreaper (-s), reaps what merge-gate re-tests orphan even
# under pid: host where this process is not PID 1.
COPY --from=node /out/tini /usr/local/bin/tini
RUN node --version >/dev/null 2>&1 \
 || { echo "orch-watchdog: no working node on BASE_IMAGE: build with NODE_FROM=copy (the base needs glibc >= 2.28 and libstdc++)" >&2; exit 1; }
# git: skip-when-current reads HEAD of the checkout (as the re-test's user). A test image usually has it;
# node:24-slim does not, so Debian's (or the RHEL family's) package manager brings it.
RUN command -v git >/dev/null 2>&1 \
 || { command -v apt-get >/dev/null 2>&1 && apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*; } \
 || { command -v dnf >/dev/null 2>&1 && dnf install -y git-core && dnf clean all; } \
 || { command -v microdnf >/dev/null 2>&1 && microdnf install -y git-core && microdnf clean all; } \
 || { echo "orch-watchdog: BASE_IMAGE has no git and no apt-get or dnf to install it (skip-when-current needs git)" >&2; exit 1; }
WORKDIR /app
ENV NODE_ENV=production \
    WATCHDOG_HOST=0.0.0.0 \
    WATCHDOG_PORT=8787
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=subreaper /app/dist/src/runner/subreaper ./dist/src/runner/subreaper
COPY bin ./bin
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
# `orch-watchdog run --timeout 900 -- pytest -q` on PATH; the state file's home (WATCHDOG_STATE_FILE),
# readable by the watchdog alone.
RUN ln -s /app/bin/orch-watchdog.js /usr/local/bin/orch-watchdog \
 && mkdir -p /var/lib/orch-watchdog && chmod 0700 /var/lib/orch-watchdog
# Root in the container, so re-tests can run as the owner of their checkout (WATCHDOG_MERGE_RUN_AS)
# and never as the watchdog: switching uid needs CAP_SETUID, which a non-root user cannot hold
# across exec under no-new-privileges. The deployments drop every other capability (README).
USER 0:0
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["/usr/local/bin/tini", "-s", "--"]
CMD ["node", "--max-semi-space-size=2", "dist/src/server.js"]

ARG BASE_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="orch-watchdog" \
      org.opencontainers.image.description="Watchdog sidecar for an orchestrator of dev-pipeline agents: alerts on hung agents, host pressure and orphaned test processes; runs merge-gate re-tests that leave no process behind." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
