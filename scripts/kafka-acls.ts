/**
 * Applies the per-component Kafka ACLs of platform/bus/acl-spec.ts to a broker, or prints them.
 * scripts/services.sh runs `apply` at every broker start; a hospital runs it once against its own
 * cluster as an administrator (README "Kafka ACLs").
 *
 * Usage:
 *   node scripts/kafka-acls.ts apply [--user COMPONENT=PRINCIPAL …] [--processor-group GROUP] [--no-create] [--dry-run]
 *     Connects with the product's settings from the environment (KAFKA_BROKERS, KAFKA_SSL*,
 *     KAFKA_SASL_* of a principal allowed to alter ACLs) and makes each component's principal's
 *     ALLOW ACLs exactly the spec's: missing ones are created, any other ACL of that principal is
 *     deleted. Principals default to User:pulsebridge-<component>. --dry-run prints the changes only.
 *     --no-create: the spec for PULSEBRIDGE_KAFKA_CREATE_TOPICS=false (topics pre-created, no Create).
 *     Exit 3: the broker has no authorizer.
 *   node scripts/kafka-acls.ts topics [--commands] [--telemetry-partitions N] [--replication-factor R]
 *     the topics the components need, as they would create them (README table), or --commands: the
 *     kafka-topics.sh lines that create them (for PULSEBRIDGE_KAFKA_CREATE_TOPICS=false)
 *   node scripts/kafka-acls.ts logins DIR
 *     Prints the components whose SASL login fails with DIR/<component>.env (services.sh then
 *     gives them their SCRAM credentials); exit 0 either way, 2 on a usage error.
 *   node scripts/kafka-acls.ts users      one line per component: `<component> <user>`
 *   node scripts/kafka-acls.ts markdown   the README table
 *   node scripts/kafka-acls.ts commands [--user …] [--processor-group GROUP] [--no-create]
 *     the same ACLs as kafka-acls.sh command lines (for a cluster administered with Kafka's tools)
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Kafka, logLevel, type AclEntry } from 'kafkajs';
import { STREAMS } from '../contracts/topics.ts';
import { BUS_COMPONENTS, busAclSpec, busAclUses, busTopics, busUserOf, type AclOperation, type BusAcl, type BusAclOptions, type BusComponent } from '../platform/bus/acl-spec.ts';
import { kafkaAnswers, kafkaClientSecurity, kafkaTopicsCommand, topicConfigEntries } from '../platform/bus/index.ts';
import { loadConfig } from '../platform/config.ts';

// kafkajs' enums are not among the names Node finds in its CommonJS exports for an ES import.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs');

const RESOURCE = { Topic: AclResourceTypes.TOPIC, Group: AclResourceTypes.GROUP } as const;
const PATTERN = { Literal: ResourcePatternTypes.LITERAL, Prefixed: ResourcePatternTypes.PREFIXED } as const;
const OPERATION: Record<AclOperation, AclEntry['operation']> = {
  Read: AclOperationTypes.READ, Write: AclOperationTypes.WRITE, Describe: AclOperationTypes.DESCRIBE, Create: AclOperationTypes.CREATE, Delete: AclOperationTypes.DELETE,
  DescribeConfigs: AclOperationTypes.DESCRIBE_CONFIGS,
};

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node scripts/kafka-acls.ts apply|commands [--user COMPONENT=PRINCIPAL …] [--processor-group GROUP] [--no-create] [--dry-run] | topics [--commands] [--telemetry-partitions N] [--replication-factor R] | logins DIR | users | markdown\n`);
  process.exit(2);
}

interface Options { principals: Record<BusComponent, string>; processorGroup?: string; dryRun: boolean; noCreate: boolean }

export function parseOptions(args: string[]): Options {
  const principals = Object.fromEntries(BUS_COMPONENTS.map((c) => [c, `User:${busUserOf(c)}`])) as Record<BusComponent, string>;
  const o: Options = { principals, dryRun: false, noCreate: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--dry-run') o.dryRun = true;
    else if (a === '--no-create') o.noCreate = true;
    else if (a === '--processor-group') o.processorGroup = args[++i] ?? usage('--processor-group needs a group');
    else if (a === '--user') {
      const m = /^([a-z-]+)=(\S+)$/.exec(args[++i] ?? '');
      if (!m || !(BUS_COMPONENTS as readonly string[]).includes(m[1]!)) usage(`--user needs COMPONENT=PRINCIPAL, COMPONENT one of ${BUS_COMPONENTS.join(', ')}`);
      principals[m[1] as BusComponent] = m[2]!.includes(':') ? m[2]! : `User:${m[2]}`;
    } else usage(`unknown argument ${a}`);
  }
  return o;
}

/** The spec's options of `apply` and `commands`. */
export const specOptions = (o: Pick<Options, 'processorGroup' | 'noCreate'>): BusAclOptions => ({
  ...(o.processorGroup ? { processorGroup: o.processorGroup } : {}),
  ...(o.noCreate ? { createTopics: false } : {}),
});

/** One kafkajs ACL entry per operation (Kafka stores one binding per operation). */
export function entriesOf(principal: string, acl: BusAcl): AclEntry[] {
  return acl.operations.map((op) => ({
    resourceType: RESOURCE[acl.resourceType], resourceName: acl.name, resourcePatternType: PATTERN[acl.patternType],
    principal, host: '*', operation: OPERATION[op], permissionType: AclPermissionTypes.ALLOW,
  }));
}

const keyOf = (e: AclEntry) => [e.resourceType, e.resourceName, e.resourcePatternType, e.principal, e.host, e.operation, e.permissionType].join('\n');
/** The name of a kafkajs enum value (its enums are plain name → number objects, without the reverse mapping of a TypeScript enum). */
const nameIn = (types: object, value: number): string => Object.entries(types).find(([, v]) => v === value)?.[0] ?? String(value);
/** One ACL entry as `apply` prints it, e.g. `WRITE on TOPIC LITERAL pb.alerts.v1 (ALLOW, host *)`. */
export const describeEntry = (e: AclEntry): string =>
  `${nameIn(AclOperationTypes, e.operation)} on ${nameIn(AclResourceTypes, e.resourceType)} ${nameIn(ResourcePatternTypes, e.resourcePatternType)} ${e.resourceName} (${nameIn(AclPermissionTypes, e.permissionType)}, host ${e.host})`;

async function apply(o: Options): Promise<void> {
  const config = loadConfig({ ...process.env, PULSEBRIDGE_BUS: 'kafka' });
  if (config.bus.kind !== 'kafka') throw new Error('unreachable');
  const kafka = new Kafka({ clientId: 'pulsebridge-acls', brokers: [...config.bus.brokers], logLevel: logLevel.NOTHING, retry: { retries: 3 }, ...kafkaClientSecurity(config.bus.security) });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const spec = busAclSpec(specOptions(o));
    for (const component of BUS_COMPONENTS) {
      const principal = o.principals[component];
      const wanted = spec[component].flatMap((acl) => entriesOf(principal, acl));
      const described = await admin.describeAcls({
        resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, principal,
        operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY,
      });
      const existing: AclEntry[] = described.resources.flatMap((r) => r.acls.map((a) => ({
        resourceType: r.resourceType, resourceName: r.resourceName, resourcePatternType: r.resourcePatternType,
        principal: a.principal, host: a.host, operation: a.operation, permissionType: a.permissionType,
      })));
      const have = new Set(existing.map(keyOf));
      const want = new Set(wanted.map(keyOf));
      const toCreate = wanted.filter((e) => !have.has(keyOf(e)));
      const toDelete = existing.filter((e) => !want.has(keyOf(e)));
      for (const e of toCreate) process.stdout.write(`${o.dryRun ? 'would add' : 'add'}    ${principal}: ${describeEntry(e)}\n`);
      for (const e of toDelete) process.stdout.write(`${o.dryRun ? 'would remove' : 'remove'} ${principal}: ${describeEntry(e)}\n`);
      if (!o.dryRun) {
        if (toDelete.length > 0) await admin.deleteAcls({ filters: toDelete });
        if (toCreate.length > 0) await admin.createAcls({ acl: toCreate });
      }
      process.stdout.write(`${component} (${principal}): ${wanted.length} ACLs, ${toCreate.length} added, ${toDelete.length} removed${o.dryRun ? ' (dry run)' : ''}\n`);
    }
  } finally {
    await admin.disconnect();
  }
}

/** The settings a component's env file holds (KEY=VALUE lines, `#` comments), as the tests read sasl-ssl.env. */
export function readEnvFile(file: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) settings[m[1]!] = m[2]!;
  }
  return settings;
}

async function failingLogins(dir: string): Promise<BusComponent[]> {
  const failing: BusComponent[] = [];
  for (const component of BUS_COMPONENTS) {
    const file = path.join(dir, `${component}.env`);
    if (!fs.existsSync(file)) { failing.push(component); continue; }
    const env = readEnvFile(file);
    const config = loadConfig({ ...env, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: env.KAFKA_SASL_SSL_BROKERS ?? '' });
    if (config.bus.kind !== 'kafka' || !(await kafkaAnswers([...config.bus.brokers], 'pulsebridge-acls-login', config.bus.security))) failing.push(component);
  }
  return failing;
}

/**
 * The README table, one row per component: the topics it writes and reads, its consumer groups
 * (Prefixed patterns; Delete where the bus deletes its own groups), and the topics it may create
 * at start (ensureStreams: Create and Describe). Every ACL of the spec is in exactly one column.
 */
export function markdownTable(): string {
  const spec = busAclSpec();
  const uses = busAclUses();
  const code = (names: string[]) => names.map((n) => `\`${n}\``).join(', ');
  const rows = [
    '| component (SASL user) | Write (produce) | Read (consume) | consumer groups, Prefixed: Read (+ Delete) | Create, Describe (start-up ensureStreams) |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const c of BUS_COMPONENTS) {
    const topics = spec[c].filter((a) => a.resourceType === 'Topic');
    const groups = spec[c].filter((a) => a.resourceType === 'Group');
    const withOp = (op: AclOperation) => topics.filter((a) => a.operations.includes(op)).map((a) => a.name);
    const groupText = groups.map((g) => `\`${g.name}…\`${g.operations.includes('Delete') ? ' (+ Delete)' : ''}`).join(', ');
    rows.push(`| ${c} (\`${busUserOf(c)}\`) | ${code(withOp('Write'))} | ${code(withOp('Read'))} | ${groupText} | ${code(withOp('Create'))} |`);
  }
  const why = BUS_COMPONENTS.map((c) => `- ${c}: ${uses[c].map((u) => u.what).join('; ')}.`);
  return [...rows, '', 'What each grant is for:', '', ...why].join('\n');
}

/**
 * The README list of the topics (PULSEBRIDGE_KAFKA_CREATE_TOPICS=false: what the administrators
 * create beforehand), or the kafka-topics.sh lines that create them, from busTopics().
 */
export function topicsTable(telemetryPartitions?: number): string {
  const rows = [
    '| topic | partitions | cleanup.policy | retention |',
    '| --- | --- | --- | --- |',
  ];
  for (const t of busTopics(telemetryPartitions)) {
    const config = Object.fromEntries(topicConfigEntries(t).map((c) => [c.name, c.value]));
    const retention = config['retention.ms'] === '-1' ? 'forever (`retention.ms=-1`, `retention.bytes=-1`)' : 'the broker\'s default';
    rows.push(`| \`${t.name}\` | ${t.partitions}${t.name === STREAMS.telemetry ? ' (`PULSEBRIDGE_TELEMETRY_PARTITIONS`)' : ''} | ${config['cleanup.policy'] ?? 'delete (the broker\'s default)'} | ${retention} |`);
  }
  return rows.join('\n');
}

export function topicCommands(telemetryPartitions?: number, replicationFactor?: number): string {
  return busTopics(telemetryPartitions).map((t) => kafkaTopicsCommand(t, replicationFactor)).join('\n');
}

function commands(o: Options): string {
  const spec = busAclSpec(specOptions(o));
  const lines: string[] = [];
  for (const c of BUS_COMPONENTS) {
    for (const acl of spec[c]) {
      const resource = acl.resourceType === 'Topic' ? `--topic ${acl.name}` : `--group ${acl.name}`;
      const ops = acl.operations.map((op) => `--operation ${op}`).join(' ');
      lines.push(`kafka-acls.sh --bootstrap-server "$BROKERS" --command-config admin.properties --add --allow-principal ${o.principals[c]} ${resource} --resource-pattern-type ${acl.patternType.toLowerCase()} ${ops}`);
    }
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case 'apply':
      try {
        await apply(parseOptions(args));
      } catch (err) {
        // A broker without an authorizer (no authorizer.class.name) answers every ACL request so.
        if ((err as { type?: unknown }).type === 'SECURITY_DISABLED') {
          process.stderr.write('the broker has no authorizer (authorizer.class.name is not set): no ACL can be applied\n');
          process.exit(3);
        }
        throw err;
      }
      break;
    case 'logins':
      if (!args[0]) usage('logins needs the folder of the components\' env files');
      process.stdout.write((await failingLogins(args[0])).join('\n') + '\n');
      break;
    case 'users':
      process.stdout.write(BUS_COMPONENTS.map((c) => `${c} ${busUserOf(c)}`).join('\n') + '\n');
      break;
    case 'markdown':
      process.stdout.write(markdownTable() + '\n');
      break;
    case 'commands':
      process.stdout.write(commands(parseOptions(args)) + '\n');
      break;
    case 'topics': {
      let telemetryPartitions: number | undefined;
      let replicationFactor: number | undefined;
      let asCommands = false;
      const positive = (v: string | undefined, flag: string) => /^[1-9][0-9]*$/.test(v ?? '') ? Number(v) : usage(`${flag} needs a positive whole number`);
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (a === '--commands') asCommands = true;
        else if (a === '--telemetry-partitions') telemetryPartitions = positive(args[++i], a);
        else if (a === '--replication-factor') replicationFactor = positive(args[++i], a);
        else usage(`unknown argument ${a}`);
      }
      process.stdout.write((asCommands ? topicCommands(telemetryPartitions, replicationFactor) : topicsTable(telemetryPartitions)) + '\n');
      break;
    }
    default:
      usage(`unknown command ${command ?? '(none)'}`);
  }
}
