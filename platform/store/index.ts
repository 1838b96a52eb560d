/**
 * The vitals (time-series) store: the port (vitals-store.ts) with its embedded SQLite adapter and
 * its InfluxDB v1 HTTP API adapter. Code outside this folder imports only this file.
 */
export type * from './vitals-store.ts';
export * from './sqlite.ts';
export * from './influx.ts';
