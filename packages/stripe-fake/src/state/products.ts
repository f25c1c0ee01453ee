import type { Stripe } from '@billing/stripe';
import { invalidRequest, resourceMissing } from '../errors.js';
import {
  type PriceOptions,
  type ProductOptions,
  planObject,
  priceObject,
  productObject,
} from '../factories.js';
import { applyMetadata, previousAttributes } from './base.js';
import { CustomersState } from './customers.js';
import type { ChangeContext, Json, MetadataPatch } from './types.js';

/** Products and prices (a lookup key moves only with `transferLookupKey`, as at Stripe). */
export abstract class ProductsState extends CustomersState {
  createProduct(
    options: Omit<ProductOptions, 'overrides'> = {},
    context?: ChangeContext,
  ): Stripe.Product {
    const product = productObject({ ...options, created: options.created ?? this.now() });
    this.store(this.products, product);
    this.emit('product.created', product, undefined, context);
    return product;
  }

  getProduct(id: string, param?: string): Stripe.Product {
    const product = this.products.get(id);
    if (!product) throw resourceMissing('product', id, param);
    return product;
  }

  updateProduct(
    id: string,
    patch: {
      name?: string;
      active?: boolean;
      description?: string | null;
      metadata?: MetadataPatch;
      defaultPrice?: string | null;
    },
    context?: ChangeContext,
  ): Stripe.Product {
    const product = this.getProduct(id);
    const before = structuredClone(product) as unknown as Json;
    if (patch.name !== undefined) product.name = patch.name;
    if (patch.active !== undefined) product.active = patch.active;
    if (patch.description !== undefined) product.description = patch.description;
    if (patch.defaultPrice !== undefined) {
      if (patch.defaultPrice !== null) this.getPrice(patch.defaultPrice, 'default_price');
      product.default_price = patch.defaultPrice;
    }
    product.metadata = applyMetadata(product.metadata, patch.metadata);
    const previous = previousAttributes(before, product as unknown as Json);
    if (Object.keys(previous).length > 0) {
      product.updated = this.now();
      this.emit('product.updated', product, previous, context);
    }
    return product;
  }

  /**
   * Creates a price. A lookup key already in use is an error unless `transferLookupKey`,
   * which moves it to the new price (Stripe's behaviour).
   */
  createPrice(
    options: Omit<PriceOptions, 'overrides'> & { product: string; transferLookupKey?: boolean },
    context?: ChangeContext,
  ): Stripe.Price {
    this.getProduct(options.product, 'product');
    if (options.lookupKey) {
      const holder = [...this.prices.values()].find(
        (price) => price.lookup_key === options.lookupKey,
      );
      if (holder && !options.transferLookupKey) {
        throw invalidRequest(
          `A price (\`${holder.id}\`) already uses that lookup key. Pass \`transfer_lookup_key\`=true to transfer it to this price.`,
          'lookup_key',
        );
      }
      if (holder) this.updatePrice(holder.id, { lookupKey: null }, context);
    }
    const { transferLookupKey: _transfer, ...priceOptions } = options;
    const price = priceObject({ ...priceOptions, created: options.created ?? this.now() });
    this.store(this.prices, price);
    this.emit('price.created', price, undefined, context);
    // Stripe still emits the legacy plan event next to recurring prices.
    if (price.recurring) this.emit('plan.created', planObject(price), undefined, context);
    return price;
  }

  getPrice(id: string, param?: string): Stripe.Price {
    const price = this.prices.get(id);
    if (!price) throw resourceMissing('price', id, param);
    return price;
  }

  updatePrice(
    id: string,
    patch: {
      active?: boolean;
      nickname?: string | null;
      lookupKey?: string | null;
      metadata?: MetadataPatch;
    },
    context?: ChangeContext,
  ): Stripe.Price {
    const price = this.getPrice(id);
    const before = structuredClone(price) as unknown as Json;
    if (patch.active !== undefined) price.active = patch.active;
    if (patch.nickname !== undefined) price.nickname = patch.nickname;
    if (patch.lookupKey !== undefined) price.lookup_key = patch.lookupKey;
    price.metadata = applyMetadata(price.metadata, patch.metadata);
    const previous = previousAttributes(before, price as unknown as Json);
    if (Object.keys(previous).length > 0) this.emit('price.updated', price, previous, context);
    return price;
  }
}
