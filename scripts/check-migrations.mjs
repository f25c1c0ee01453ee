// Fails when the Drizzle schema and the committed migrations disagree: runs
// `drizzle-kit generate` and checks that it had nothing to write. Anything it wrote is
// removed again, so the check leaves the tree as it found it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = path.resolve('drizzle');
const list = (d) =>
  fs.existsSync(d) ? fs.readdirSync(d, { recursive: true }).map(String).sort() : [];
const before = new Set(list(dir));
const journal = path.join(dir, 'meta/_journal.json');
const journalBefore = fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8') : null;

const out = execFileSync('drizzle-kit', ['generate', '--name', 'pending_schema_change'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
});
const added = list(dir).filter((file) => !before.has(file));
if (added.length > 0) {
  for (const file of added) fs.rmSync(path.join(dir, file), { force: true });
  if (journalBefore !== null) fs.writeFileSync(journal, journalBefore);
  console.error('schema and migrations disagree: drizzle-kit generate would write');
  for (const file of added) console.error(`  ${file}`);
  console.error('run `pnpm --filter @billing/db db:generate`, review the SQL and commit it.');
  process.exit(1);
}
console.log(out.includes('No schema changes') ? 'migrations match the schema' : out.trim());
