/**
 * The device registry: which devices exist, their time-bounded assignments to patients, their
 * liveness and their persistent commands (registry.ts is the port, types.ts its value types).
 * Two adapters: embedded SQLite (registry-sqlite.ts with liveness-sqlite.ts, commands-sqlite.ts)
 * and the bus (registry-bus.ts: entity logs and a compacted liveness stream). The pure rules
 * (assignments.ts, the rules in commands.ts and liveness.ts) are shared by both.
 * Code outside this folder imports only this file.
 */
export type * from './types.ts';
export type * from './registry.ts';
export * from './assignments.ts';
export * from './commands.ts';
export * from './commands-sqlite.ts';
export * from './liveness.ts';
export * from './liveness-sqlite.ts';
export * from './registry-sqlite.ts';
export * from './registry-bus.ts';
export * from './directory-bus.ts';
export * from './commands-bus.ts';
export * from './liveness-bus.ts';
export * from './entity-log.ts';
export * from './device-view.ts';
