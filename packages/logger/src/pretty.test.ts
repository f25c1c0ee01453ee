import { describe, expect, it } from 'vitest';
import { formatLine } from './pretty.js';

describe('formatLine (LOG_FORMAT=pretty)', () => {
  const json = (record: Record<string, unknown>) => `${JSON.stringify(record)}\n`;

  it('puts the app first and keeps one log on one line', () => {
    const out = formatLine(
      json({
        level: 30,
        time: '2026-12-01T10:11:12.345Z',
        pid: 7,
        app: 'ingress',
        module: 'ingress',
        msg: 'webhook rejected',
        outcome: 'bad_signature',
        path: '/webhooks/stripe',
      }),
    );
    expect(out).toBe(
      'ingress          10:11:12 INFO  webhook rejected  module=ingress outcome=bad_signature path=/webhooks/stripe\n',
    );
  });

  it('shows an error as type and message, and quotes values with spaces', () => {
    const out = formatLine(
      json({
        level: 50,
        time: '2026-12-01T10:11:12.345Z',
        app: 'worker-webhooks',
        msg: 'event failed permanently',
        err: { type: 'TypeError', message: 'x is undefined', stack: 'TypeError: x\n    at y' },
        reason: 'two words',
      }),
    );
    expect(out.split('\n')).toHaveLength(2);
    expect(out).toContain('ERROR event failed permanently TypeError: x is undefined');
    expect(out).toContain('reason="two words"');
    expect(out).not.toContain('at y');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(formatLine('plain text')).toBe('plain text\n');
  });
});
