/**
 * The ehr-exporter process's operations endpoint: `GET /healthz` (the export's health: ok or
 * paused with the reason, unknown patients) and `GET /metrics` (Prometheus). No PHI beyond our
 * internal patient ids, no token: it is meant for the orchestrator's probes on the pod network.
 * The reasons come from error texts that keep this: a FHIR request is named without its query
 * values (fhir-client.ts describeRequest) and a patient by our id, never by MRN (identity.ts).
 * `/healthz` answers 200 while paused: a paused exporter is alive and waiting for the EHR, and a
 * restart would not help; the body says `"status": "paused"` for dashboards and alerting.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from '../platform/metrics.ts';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(o: { port: number; host: string; health: () => object; metrics: MetricsRegistry }): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(o.health()));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(o.metrics.render());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
