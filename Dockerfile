# GPU worker image: CUDA 12 runtime, Node 22, onnxruntime-node with its CUDA provider.
# Build: docker build -t headstart-worker .
# Run:   docker run --gpus all -e HEADSTART_EDGE_URL=https://… -e HEADSTART_WORKER_TOKEN=hs_worker_… headstart-worker
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build:worker

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://deb.nodesource.com/setup_22.x | bash - \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Only what the bundle leaves outside: onnxruntime-node, then its CUDA 12 provider on purpose
# (npm's allowScripts keeps the package's install script from running on its own).
RUN npm init -y >/dev/null \
 && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0 \
 && node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12 \
 && ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
COPY --from=build /src/dist/worker.mjs /src/dist/preprocess-thread.mjs ./
RUN mkdir -p /cache && chown 1000:1000 /cache
ENV HEADSTART_PROVIDER=auto \
    HEADSTART_CACHE_DIR=/cache \
    NODE_ENV=production
VOLUME ["/cache"]
USER 1000
STOPSIGNAL SIGTERM
CMD ["node", "worker.mjs"]
