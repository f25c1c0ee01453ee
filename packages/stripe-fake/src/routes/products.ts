import { parameterMissing } from '../errors.js';
import {
  bool,
  int,
  listParams,
  metadata,
  newMetadata,
  nullableStr,
  object,
  oneOf,
  rangeFilter,
  requiredStr,
  str,
  stringList,
} from '../params.js';
import { paginate, type Route, route } from './routing.js';

/** `/v1/products` and `/v1/prices`: create, retrieve, update, list. */
export const productRoutes: Route[] = [
  route('POST', '/v1/products', ({ params, state, change }) =>
    state.createProduct(
      {
        name: requiredStr(params, 'name'),
        description: nullableStr(params, 'description') ?? null,
        active: bool(params, 'active'),
        metadata: newMetadata(params),
        id: str(params, 'id') || undefined,
      },
      change,
    ),
  ),
  route('GET', '/v1/products/:id', ({ path, state }) => state.getProduct(path.id!)),
  route('POST', '/v1/products/:id', ({ path, params, state, change }) =>
    state.updateProduct(
      path.id!,
      {
        name: str(params, 'name'),
        active: bool(params, 'active'),
        description: nullableStr(params, 'description'),
        defaultPrice: nullableStr(params, 'default_price'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/products', ({ params, state }) => {
    const active = bool(params, 'active');
    const ids = stringList(params, 'ids');
    return paginate(
      state,
      state.products.values(),
      (product) =>
        (active === undefined || product.active === active) && (!ids || ids.includes(product.id)),
      listParams(params),
      '/v1/products',
      'product',
    );
  }),

  // Prices
  route('POST', '/v1/prices', ({ params, state, change }) => {
    let product = str(params, 'product');
    const productData = object(params, 'product_data');
    if (!product && productData) {
      product = state.createProduct(
        { name: requiredStr(productData, 'name'), metadata: newMetadata(productData) },
        change,
      ).id;
    }
    if (!product) throw parameterMissing('product');
    const currency = requiredStr(params, 'currency').toLowerCase();
    const unitAmount = int(params, 'unit_amount', { min: 0 });
    if (unitAmount === undefined) throw parameterMissing('unit_amount');
    const recurring = object(params, 'recurring');
    const interval = recurring
      ? oneOf(recurring, 'interval', ['day', 'week', 'month', 'year'] as const)
      : undefined;
    if (recurring && !interval) throw parameterMissing('recurring[interval]');
    return state.createPrice(
      {
        product,
        currency,
        unitAmount,
        interval: interval ?? null,
        intervalCount: recurring ? int(recurring, 'interval_count', { min: 1 }) : undefined,
        usageType: recurring
          ? oneOf(recurring, 'usage_type', ['licensed', 'metered'] as const)
          : undefined,
        lookupKey: str(params, 'lookup_key') || null,
        transferLookupKey: bool(params, 'transfer_lookup_key'),
        nickname: nullableStr(params, 'nickname') ?? null,
        active: bool(params, 'active'),
        metadata: newMetadata(params),
      },
      change,
    );
  }),
  route('GET', '/v1/prices/:id', ({ path, state }) => state.getPrice(path.id!)),
  route('POST', '/v1/prices/:id', ({ path, params, state, change }) =>
    state.updatePrice(
      path.id!,
      {
        active: bool(params, 'active'),
        nickname: nullableStr(params, 'nickname'),
        lookupKey: nullableStr(params, 'lookup_key'),
        metadata: metadata(params),
      },
      change,
    ),
  ),
  route('GET', '/v1/prices', ({ params, state }) => {
    const lookupKeys = stringList(params, 'lookup_keys');
    const active = bool(params, 'active');
    const product = str(params, 'product');
    const type = oneOf(params, 'type', ['one_time', 'recurring'] as const);
    const currency = str(params, 'currency');
    const created = rangeFilter(params, 'created');
    const recurring = object(params, 'recurring');
    const interval = recurring ? str(recurring, 'interval') : undefined;
    return paginate(
      state,
      state.prices.values(),
      (price) =>
        (!lookupKeys || (price.lookup_key !== null && lookupKeys.includes(price.lookup_key))) &&
        (active === undefined || price.active === active) &&
        (product === undefined || price.product === product) &&
        (type === undefined || price.type === type) &&
        (currency === undefined || price.currency === currency) &&
        (interval === undefined || price.recurring?.interval === interval) &&
        (!created || created(price.created)),
      listParams(params),
      '/v1/prices',
      'price',
    );
  }),
];
