import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, sleep, waitFor } from './ports.js';
import { trackChild } from './proc.js';

export interface RedisServerOptions {
  port?: number;
  /** Data directory (AOF, cluster config); a fresh temp dir by default. */
  dir?: string;
  /** AOF on, as the shipped infra/redis/redis.conf has it. Default true. */
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  cluster?: boolean;
  extraArgs?: string[];
}

/**
 * A `redis-server` of the caller's own on a spare port: persistence like the shipped config
 * (AOF, noeviction) unless told otherwise, so it can be killed and restarted from its AOF.
 */
export class RedisServer {
  readonly dir: string;
  port = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RedisServerOptions = {}) {
    this.dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'billing-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  async start(): Promise<this> {
    if (this.running()) return this;
    this.port ||= this.options.port ?? (await freePort());
    const o = this.options;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      o.appendonly === false ? 'no' : 'yes',
      '--appendfsync',
      o.appendfsync ?? 'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      path.join(this.dir, 'redis.log'),
      ...(o.cluster
        ? [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            path.join(this.dir, 'nodes.conf'),
            '--cluster-node-timeout',
            '3000',
          ]
        : []),
      ...(o.extraArgs ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    trackChild(child);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    await waitFor(
      `redis-server on ${this.port}`,
      async () => {
        if (!this.running()) throw new Error(`redis-server exited: ${this.log().slice(-500)}`);
        const probe = new Redis({
          port: this.port,
          host: '127.0.0.1',
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          // LOADING while it replays the AOF: not ready yet.
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      30_000,
      50,
    );
    return this;
  }

  /** SIGKILL: a crash. What the AOF has is what comes back on start(). */
  async kill(): Promise<void> {
    if (!this.running()) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: a clean shutdown (flushes the AOF). */
  async stop(): Promise<void> {
    if (!this.running()) return;
    this.child!.kill('SIGTERM');
    await Promise.race([this.exited, sleep(10_000)]);
    await this.kill();
  }

  /** Stops it and removes its directory. */
  async destroy(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8');
    } catch {
      return '';
    }
  }
}

/**
 * A local Redis Cluster of `masters` masters (no replicas), each its own redis-server with
 * AOF, joined with `redis-cli --cluster create`.
 */
export class RedisCluster {
  readonly nodes: RedisServer[];

  constructor(masters = 3, options: Omit<RedisServerOptions, 'cluster' | 'port' | 'dir'> = {}) {
    this.nodes = Array.from(
      { length: masters },
      () => new RedisServer({ ...options, cluster: true }),
    );
  }

  /** `host:port` of every node, the form REDIS_CLUSTER_NODES takes. */
  get addresses(): string[] {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`);
  }

  async start(): Promise<this> {
    for (const node of this.nodes) await node.start();
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...this.addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}\n${created.stderr}`);
    }
    await waitFor(
      'cluster state ok',
      async () => {
        for (const node of this.nodes) {
          const info = spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], {
            encoding: 'utf8',
          });
          if (!/cluster_state:ok/.test(info.stdout)) return false;
        }
        return true;
      },
      30_000,
      200,
    );
    return this;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()));
  }
}
