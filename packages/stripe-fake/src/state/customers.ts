import type { Stripe } from '@billing/stripe';
import { resourceMissing } from '../errors.js';
import { type CustomerOptions, customerObject } from '../factories.js';
import { applyMetadata, previousAttributes, StateBase } from './base.js';
import type { ChangeContext, Json, MetadataPatch } from './types.js';

/** Customers: create, update (metadata merge), delete (cancels its subscriptions), seed many. */
export abstract class CustomersState extends StateBase {
  createCustomer(
    options: Omit<CustomerOptions, 'overrides'> & {
      description?: string | null;
      phone?: string | null;
    } = {},
    context?: ChangeContext,
  ): Stripe.Customer {
    const customer = customerObject({
      ...options,
      email: options.email ?? null,
      created: options.created ?? this.now(),
    });
    customer.description = options.description ?? null;
    customer.phone = options.phone ?? null;
    this.store(this.customers, customer);
    this.emit('customer.created', customer, undefined, context);
    return customer;
  }

  /** Adds `count` customers quickly, without events (pre-existing account data). */
  seedCustomers(
    count: number,
    build: (index: number) => CustomerOptions = () => ({}),
  ): Stripe.Customer[] {
    const created = this.now();
    const out: Stripe.Customer[] = [];
    for (let index = 0; index < count; index++) {
      out.push(this.store(this.customers, customerObject({ created, ...build(index) })));
    }
    return out;
  }

  getCustomer(id: string, param?: string): Stripe.Customer {
    const customer = this.customers.get(id);
    if (!customer) throw resourceMissing('customer', id, param);
    return customer;
  }

  updateCustomer(
    id: string,
    patch: {
      email?: string | null;
      name?: string | null;
      description?: string | null;
      phone?: string | null;
      metadata?: MetadataPatch;
    },
    context?: ChangeContext,
  ): Stripe.Customer {
    const customer = this.getCustomer(id);
    const before = structuredClone(customer) as unknown as Json;
    if (patch.email !== undefined) customer.email = patch.email;
    if (patch.name !== undefined) customer.name = patch.name;
    if (patch.description !== undefined) customer.description = patch.description;
    if (patch.phone !== undefined) customer.phone = patch.phone;
    customer.metadata = applyMetadata(customer.metadata, patch.metadata);
    const previous = previousAttributes(before, customer as unknown as Json);
    if (Object.keys(previous).length > 0)
      this.emit('customer.updated', customer, previous, context);
    return customer;
  }

  deleteCustomer(
    id: string,
    context?: ChangeContext,
  ): { id: string; object: 'customer'; deleted: true } {
    const customer = this.getCustomer(id);
    this.customers.delete(id);
    this.deletedCustomers.add(id);
    for (const subscription of this.subscriptions.values()) {
      if (subscription.customer === id && subscription.status !== 'canceled')
        this.cancelSubscription(subscription.id, context);
    }
    this.emit('customer.deleted', customer, undefined, context);
    return { id, object: 'customer', deleted: true };
  }
}
