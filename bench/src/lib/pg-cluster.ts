import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

const BIN = process.platform === 'linux' ? findPgBin() : '';

function findPgBin(): string {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return '';
  const versions = fs
    .readdirSync(base)
    .filter((v) => fs.existsSync(path.join(base, v, 'bin/initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : '';
}

/** Runs a Postgres binary as the `postgres` OS user (initdb refuses root). */
function asPostgres(bin: string, args: string[]): string {
  const isRoot = process.getuid?.() === 0;
  const cmd = isRoot ? 'runuser' : path.join(BIN, bin);
  const argv = isRoot ? ['-u', 'postgres', '--', path.join(BIN, bin), ...args] : args;
  const result = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${bin} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/**
 * A throw-away Postgres cluster of the caller's own (initdb in a temp dir, its own port and
 * socket directory), for drills that must stop Postgres without touching the shared server.
 */
export class PostgresCluster {
  readonly dir: string;
  port = 0;

  constructor() {
    if (!BIN) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'billing-pg-'));
    fs.chmodSync(this.dir, 0o777);
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  /** URL of database `name` on this cluster (trust auth, user postgres). */
  url(name = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  async init(): Promise<this> {
    this.port = await freePort();
    fs.mkdirSync(this.data, { mode: 0o700 });
    if (process.getuid?.() === 0) spawnSync('chown', ['-R', 'postgres:postgres', this.dir]);
    asPostgres('initdb', [
      '-D',
      this.data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    return this;
  }

  start(): void {
    asPostgres('pg_ctl', [
      '-D',
      this.data,
      '-l',
      path.join(this.dir, 'postgres.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
      '-w',
      '-t',
      '60',
      'start',
    ]);
  }

  /** `immediate` is a crash (no checkpoint, clients cut); `fast` a clean stop. */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    asPostgres('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  running(): boolean {
    const status = spawnSync(
      process.getuid?.() === 0 ? 'runuser' : path.join(BIN, 'pg_ctl'),
      process.getuid?.() === 0
        ? ['-u', 'postgres', '--', path.join(BIN, 'pg_ctl'), '-D', this.data, 'status']
        : ['-D', this.data, 'status'],
    );
    return status.status === 0;
  }

  destroy(): void {
    try {
      if (this.running()) this.stop('immediate');
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
