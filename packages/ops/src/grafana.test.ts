import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/** prom-client's default metrics (collectDefaultMetrics in createRegistry). */
const DEFAULT_METRICS = new Set([
  'nodejs_eventloop_lag_p99_seconds',
  'process_resident_memory_bytes',
]);

/** Every metric name registered in the apps' and packages' source (`name: '…'`). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        for (const match of fs.readFileSync(full, 'utf8').matchAll(/['"]([a-z][a-z0-9_]+)['"]/g)) {
          names.add(match[1]!);
        }
      }
    }
  };
  for (const top of ['apps', 'packages']) {
    for (const pkg of fs.readdirSync(path.join(root, top))) {
      const src = path.join(root, top, pkg, 'src');
      if (fs.existsSync(src)) walk(src);
    }
  }
  return names;
}

const METRIC = /\b((?:ingress|webhook|billing|api|usage|nodejs|process)_[a-z0-9_]+)\b/g;
const base = (name: string) => name.replace(/_(bucket|count|sum)$/, '');

function referencedMetrics(text: string): string[] {
  return [...new Set([...text.matchAll(METRIC)].map((m) => base(m[1]!)))].sort();
}

describe('grafana dashboard and alert rules', () => {
  const dashboard = JSON.parse(read('infra/grafana/billing-dashboard.json')) as {
    panels: Array<{ type: string; targets?: Array<{ expr: string }> }>;
  };
  const exprs = dashboard.panels.flatMap((panel) => panel.targets?.map((t) => t.expr) ?? []);
  const rules = read('infra/grafana/alert-rules.yml');

  it('only plots and alerts on metrics the apps export', () => {
    const exported = exportedMetrics();
    const used = referencedMetrics([...exprs, rules].join('\n'));
    expect(used.length).toBeGreaterThan(10);
    const unknown = used.filter((name) => !exported.has(name) && !DEFAULT_METRICS.has(name));
    expect(unknown).toEqual([]);
  });

  it('covers queue depth, job duration and lag, webhook outcomes, cache and pool use', () => {
    const used = referencedMetrics(exprs.join('\n'));
    expect(used).toEqual(
      expect.arrayContaining([
        'billing_queue_jobs',
        'webhook_event_processing_seconds',
        'webhook_event_lag_seconds',
        'webhook_events_processed_total',
        'ingress_webhook_requests_total',
        'billing_cache_lookups_total',
        'billing_db_pool_connections',
      ]),
    );
  });

  it('gives every alert a runbook section', () => {
    const runbook = read('docs/runbook.md');
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts).toEqual(
      expect.arrayContaining([
        'QueueDepthGrowing',
        'WebhookFailures',
        'WebhookLag',
        'IngressErrors',
        'CacheDegraded',
        'PostgresPoolSaturated',
      ]),
    );
    for (const alert of alerts) {
      expect(rules).toContain(`docs/runbook.md#${alert.toLowerCase()}`);
      expect(runbook).toMatch(new RegExp(`^### ${alert}$`, 'm'));
    }
  });
});
