#!/bin/bash
# Runs once, when the influxdb:2 container sets itself up (docker-entrypoint-initdb.d).
# Pulsebridge speaks InfluxDB's v1 HTTP API (/write?db=…, /query?db=…); on 2.x that API finds its
# bucket through a DBRP (database/retention-policy) mapping. This maps database
# $DOCKER_INFLUXDB_INIT_BUCKET, retention policy "autogen", onto the initial bucket, so
# INFLUX_DATABASE must equal DOCKER_INFLUXDB_INIT_BUCKET (checked by test/compose.test.ts).
set -euo pipefail
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --rp autogen \
  --default
