import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The config loaders: every source file of packages/config, and every other non-test file in
 * apps/*\/src or packages/*\/src that parses the environment with @billing/config's parseEnv.
 */
function loaderFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (/\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name)) {
        files.push(full);
      }
    }
  };
  for (const group of ['apps', 'packages']) {
    for (const pkg of readdirSync(path.join(root, group))) {
      try {
        walk(path.join(root, group, pkg, 'src'));
      } catch {
        // a package without src/
      }
    }
  }
  return files.filter((file) => {
    const text = readFileSync(file, 'utf8');
    if (file.includes(`${path.sep}packages${path.sep}config${path.sep}`)) return true;
    return /\bparseEnv\b[^;]*from '@billing\/config'/s.test(text) && /\bparseEnv\(/.test(text);
  });
}

/** Variable names a loader reads: schema keys (`NAME:`) and direct reads (`env.NAME`). */
function variablesRead(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(/^\s*([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\??\s*:/gm)) {
    names.add(match[1]!);
  }
  for (const match of text.matchAll(/\benv\.([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)\b/g)) {
    names.add(match[1]!);
  }
  return [...names];
}

/** Names in .env.example, set (`NAME=`) or shown commented out (`# NAME=`). */
function listedInExample(): Set<string> {
  const text = readFileSync(path.join(root, '.env.example'), 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)) names.add(match[1]!);
  return names;
}

describe('.env.example', () => {
  it('lists every variable a config loader reads', () => {
    const files = loaderFiles();
    // Guard against a scan that silently finds nothing: these loaders must be among them.
    expect(files.map((file) => path.relative(root, file))).toEqual(
      expect.arrayContaining([
        'packages/config/src/env.ts',
        'apps/api/src/env.ts',
        'apps/ingress/src/env.ts',
        'apps/worker-webhooks/src/env.ts',
        'apps/worker-usage/src/env.ts',
      ]),
    );
    const listed = listedInExample();
    const missing = files.flatMap((file) =>
      variablesRead(file)
        .filter((name) => !listed.has(name))
        .map((name) => `${name} (${path.relative(root, file)})`),
    );
    // Shown failing once by deleting the `# API_PORT=3001` line: "API_PORT (apps/api/src/env.ts)".
    expect(missing).toEqual([]);
  });

  it('parses as a .env file and sets no secret', () => {
    const parsed = parseEnv(readFileSync(path.join(root, '.env.example'), 'utf8'));
    for (const name of ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRETS', 'BILLING_SERVICE_TOKEN']) {
      expect(parsed[name], name).toBe('');
    }
  });
});
