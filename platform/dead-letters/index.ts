/**
 * Dead letters for operators (`pulsebridge deadletter`): the record format and its parser
 * (record.ts), embedded mode's SQLite archive with replay requests (archive-sqlite.ts), and the
 * reader of the Kafka stream (read-kafka.ts). Code outside this folder imports only this file.
 */
export * from './record.ts';
export * from './archive-sqlite.ts';
export * from './read-kafka.ts';
