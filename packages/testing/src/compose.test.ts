// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Compose's ${…} syntax under test
import { dbEnv, plansEnv } from '@billing/config';
import { describe, expect, it } from 'vitest';
import { interpolate, renderCompose } from './compose.js';

describe('Compose interpolation (the renderer used without the compose plugin)', () => {
  const vars = { SET: 'value', EMPTY: '' };

  it.each([
    ['${SET}', 'value'],
    ['$SET/x', 'value/x'],
    ['${MISSING}', ''],
    ['${MISSING:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${MISSING-fallback}', 'fallback'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${MISSING:-${SET}}', 'value'],
    ['$${SET}', '${SET}'],
    ['http://${SET:-x}:12111', 'http://value:12111'],
  ])('%s → %j', (text, expected) => {
    expect(interpolate(text, vars)).toBe(expected);
  });

  it('fails on a required variable that is missing', () => {
    expect(() => interpolate('${MISSING:?set it}', vars)).toThrow(/MISSING.*set it/);
  });
});

describe('docker-compose.yml', () => {
  const project = renderCompose();
  const apps = ['ingress', 'worker-webhooks', 'worker-usage', 'api'];

  it('renders every app service', () => {
    expect(Object.keys(project.services)).toEqual(expect.arrayContaining(apps));
  });

  it('passes no empty string into any container (unset variables stay unset)', () => {
    for (const [name, service] of Object.entries(project.services)) {
      const empty = Object.entries(service.environment).filter(([, value]) => value === '');
      expect(empty, `${name} gets empty variables`).toEqual([]);
    }
  });

  it('starts each app only after migrations ran and Redis answers, and health-checks it', () => {
    for (const name of apps) {
      const service = project.services[name]!;
      expect(service.depends_on?.migrate?.condition, name).toBe('service_completed_successfully');
      expect(service.depends_on?.redis?.condition, name).toBe('service_healthy');
      expect(service.healthcheck?.test, name).toEqual(
        expect.arrayContaining([expect.stringMatching(/\/readyz/)]),
      );
    }
    expect(project.services.migrate?.depends_on?.postgres?.condition).toBe('service_healthy');
  });

  it('passes a Stripe key from the shell through unchanged', () => {
    const withKey = renderCompose({ shell: { STRIPE_SECRET_KEY: 'sk_test_123' } });
    expect(withKey.services.api?.environment.STRIPE_SECRET_KEY).toBe('sk_test_123');
  });

  it('has a simulator service where the apps look for one while no key is set', () => {
    const simulator = project.services['stripe-simulator'];
    expect(simulator?.depends_on?.ingress?.condition).toBe('service_healthy');
    for (const name of apps) {
      expect(project.services[name]!.environment.STRIPE_SIMULATOR_URL, name).toBe(
        'http://stripe-simulator:12111',
      );
    }
  });

  it('gives the migrate job an environment its loaders accept', () => {
    const env = project.services.migrate!.environment;
    expect(dbEnv(env).DATABASE_URL).toBe('postgres://postgres:postgres@postgres:5432/billing');
    expect(() => plansEnv(env)).not.toThrow();
  });
});
