# syntax=docker/dockerfile:1
#
# One image for every process of the product; pick one with the command:
#   worker     node lib/src/worker/main.js        (the default)
#   bridge     node lib/src/bridge/main.js
#   generator  node lib/src/cli/generate.js --rate 2
#   dashboard  node lib/src/dashboard/main.js
#
# Build: docker build -t login-pipeline:0.1.0 .
# Every base is pinned to a full version tag, so a rebuild next month gets the same Node.

# --- build: full install (TypeScript is a devDependency), compile, then drop dev packages ---
FROM node:20.19.5-bookworm-slim AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
# The lockfile alone first, so that the dependency layer is cached across source edits.
COPY package.json package-lock.json ./
RUN npm ci --loglevel=error
COPY tsconfig.json ./
COPY src ./src
# Only src/ is compiled here: the tests are not part of the runtime image.
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && node lib/src/build/post-compile.js \
 && rm -f lib/.tsbuildinfo \
 && npm prune --omit=dev --loglevel=error

# --- runtime: compiled JavaScript and production node_modules only ---
FROM node:20.19.5-bookworm-slim AS runtime
# As src/process/environment.ts serviceEnvironment: a V8 heap limit, a small young generation and two malloc
# arenas keep each process well under 300 MB resident (measured with npm run bench).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=512"
WORKDIR /app
# The node image's "node" user (uid/gid 1000). Numeric, so that Kubernetes' runAsNonRoot can
# verify it without resolving a name.
COPY --from=build --chown=1000:1000 /app/package.json ./package.json
COPY --from=build --chown=1000:1000 /app/node_modules ./node_modules
COPY --from=build --chown=1000:1000 /app/lib ./lib
USER 1000:1000
# bridge 9464, worker 9465 (each: /metrics, /healthz, /readyz), dashboard 3000
EXPOSE 9464 9465 3000
# Node as PID 1 does not reap zombies; run with `docker run --init` (compose sets init: true).
# The product handles SIGTERM itself for a graceful stop.
STOPSIGNAL SIGTERM
CMD ["node", "lib/src/worker/main.js"]
