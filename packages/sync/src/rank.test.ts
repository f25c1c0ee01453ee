import { describe, expect, it } from 'vitest';
import {
  actionRank,
  INVOICE_STATE_RANK,
  SUBSCRIPTION_STATE_RANK,
  stateRank,
  writeRank,
} from './rank.js';

describe('write rank', () => {
  it('orders created < updated-family < deleted', () => {
    expect(actionRank('customer.created')).toBeLessThan(actionRank('customer.updated'));
    expect(actionRank('invoice.paid')).toBe(actionRank('invoice.updated'));
    expect(actionRank('customer.updated')).toBeLessThan(actionRank('customer.deleted'));
    expect(actionRank(null)).toBe(1);
  });

  it('lets the object state dominate the event type', () => {
    const sub = (type: string, status: string) =>
      writeRank(type, stateRank(SUBSCRIPTION_STATE_RANK, status));
    expect(sub('customer.subscription.created', 'incomplete')).toBeLessThan(
      sub('customer.subscription.updated', 'active'),
    );
    expect(sub('customer.subscription.updated', 'active')).toBeLessThan(
      sub('customer.subscription.updated', 'canceled'),
    );
    expect(sub('customer.subscription.created', 'canceled')).toBeGreaterThan(
      sub('customer.subscription.deleted', 'active'),
    );
    expect(sub('customer.subscription.updated', 'active')).toBe(
      sub('customer.subscription.updated', 'past_due'),
    );
  });

  it('ranks invoice states draft < open < uncollectible < paid = void', () => {
    const inv = (status: string) =>
      writeRank('invoice.updated', stateRank(INVOICE_STATE_RANK, status));
    expect(inv('draft')).toBeLessThan(inv('open'));
    expect(inv('open')).toBeLessThan(inv('uncollectible'));
    expect(inv('uncollectible')).toBeLessThan(inv('paid'));
    expect(inv('paid')).toBe(inv('void'));
  });

  it('fits a smallint', () => {
    expect(writeRank('x.deleted', 9)).toBeLessThan(32_767);
  });
});
