# One image for every Pulsebridge component; docker-compose.yml picks the component with
# `command: ["node", "cli/main.ts", "<component>"]`.
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step.
FROM node:24-slim

ENV NODE_ENV=production \
    PULSEBRIDGE_DATA_DIR=/var/lib/pulsebridge
WORKDIR /app

# Dependencies first, so source changes do not re-install them. Dev dependencies (TypeScript,
# vitest, the npm-packaged Node used on developer machines) are not needed at run time.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY cli ./cli
COPY contracts ./contracts
COPY platform ./platform
COPY gateway ./gateway
COPY processor ./processor
COPY dashboard-api ./dashboard-api
COPY ehr-exporter ./ehr-exporter
COPY device-sim ./device-sim

RUN mkdir -p /var/lib/pulsebridge && chown node:node /var/lib/pulsebridge
USER node
VOLUME ["/var/lib/pulsebridge"]

# SIGTERM reaches node directly (exec form), so components shut down cleanly on `docker stop`.
CMD ["node", "cli/main.ts", "--help"]
