/**
 * Prints the functions with the most self time in V8 CPU profiles (`node --cpu-prof`), e.g. the
 * ones `npm run bench:e2e -- --cpu-prof-dir DIR` writes for each component:
 *   node bench/cpu-profile-top.ts DIR/*.cpuprofile [--top 15]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: ProfileNode[]; samples?: number[]; timeDeltas?: number[] }

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
for (const file of positionals) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (const id of profile.samples ?? []) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/.*\/(node_modules\/[^/]+|[^/]+\/[^/]+)$/, '$1')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + 1);
    total++;
  }
  console.log(`\n${path.basename(file)}: ${total} samples`);
  for (const [key, n] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
    console.log(`${((n / total) * 100).toFixed(1).padStart(5)} %  ${key}`);
  }
}
