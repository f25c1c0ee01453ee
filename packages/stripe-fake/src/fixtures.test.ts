import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, fixtureCandidates, loadStripeFixtures } from './fixtures.js';

describe('stripe fixtures', () => {
  it('finds the fixtures3.json kept in the package, so a fresh clone needs nothing else', () => {
    const { file, resources } = loadStripeFixtures();
    expect(file.endsWith(path.join('stripe-fake', 'fixtures', 'fixtures3.json'))).toBe(true);
    expect(resources.subscription?.object).toBe('subscription');
  });

  it('returns a deep copy, so a test mutating it leaves the next copy intact', () => {
    const first = fixture<{ items: { data: { id: string }[] } }>('subscription');
    first.items.data[0]!.id = 'si_mutated';
    const second = fixture<{ items: { data: { id: string }[] } }>('subscription');
    expect(second.items.data[0]!.id).not.toBe('si_mutated');
  });

  it('honours STRIPE_FIXTURES_FILE', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixtures-'));
    const file = path.join(dir, 'custom.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ resources: { customer: { object: 'customer', id: 'cus_x' } } }),
    );
    try {
      expect(fixtureCandidates({ STRIPE_FIXTURES_FILE: file })).toEqual([file]);
      expect(loadStripeFixtures({ STRIPE_FIXTURES_FILE: file }).resources.customer?.id).toBe(
        'cus_x',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the path tried when STRIPE_FIXTURES_FILE points at a missing file', () => {
    expect(() =>
      loadStripeFixtures({ STRIPE_FIXTURES_FILE: '/nonexistent/fixtures3.json' }),
    ).toThrow(/\/nonexistent\/fixtures3\.json.*STRIPE_FIXTURES_FILE/);
  });

  it('rejects a fixtures file without a resources object', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixtures-'));
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ nope: true }));
    try {
      expect(() => loadStripeFixtures({ STRIPE_FIXTURES_FILE: file })).toThrow(
        /no "resources" object/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws naming the resource when asked for one that does not exist', () => {
    expect(() => fixture('no_such_resource')).toThrow(/no_such_resource/);
  });
});
