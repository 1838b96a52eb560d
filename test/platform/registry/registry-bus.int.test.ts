/**
 * The bus-backed registry on Apache Kafka (the production bus): the command and liveness
 * contracts the SQLite registry passes, and registry instances (an API, gateways) on separate
 * Kafka connections sharing commands and liveness. The streams are shared by every test and run,
 * so the scenarios use unique device and gateway ids and a new instance replays everything.
 */
import { randomUUID } from 'node:crypto';
import { describe } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import {
  busInstances, busRegistry, commandContract, commandsAcrossInstances,
} from './device-commands-scenarios.ts';
import { livenessAcrossInstances, livenessContract } from './device-liveness-scenarios.ts';

/** Every instance on its own connection, as separate processes are. */
const kafkaInstances = () => busInstances(() => new KafkaBus({ brokers: kafkaBrokers, clientId: `pb-registry-${randomUUID().slice(0, 8)}`, logger: silentLogger }));

await describeWithService('bus-backed registry on Kafka', kafkaAvailable, () => {
  describe('command store contract', () => {
    commandContract(busRegistry(kafkaInstances));
  });

  describe('liveness contract', () => {
    livenessContract(busRegistry(kafkaInstances));
  });

  describe('commands across instances', () => {
    commandsAcrossInstances(kafkaInstances);
  });

  describe('liveness across instances', () => {
    livenessAcrossInstances(kafkaInstances);
  });
});
