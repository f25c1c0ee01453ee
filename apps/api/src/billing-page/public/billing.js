// The billing page: one user's plan, status, period and usage, plan cards with a
// monthly/yearly switch, and upgrade / cancel / checkout / customer portal wired to
// /api/billing. Every read is one GET /api/billing/overview (plans, subscription, usage and
// an ended plan loaded in parallel on the server). A plan change shows its prorated amount
// (Stripe's invoice preview) and is sent only once the customer confirms it. After an action
// the page polls the overview every second until the change shows up, i.e. until Stripe's
// webhook has gone through the ingress, the queue and the worker.

const LIVE = ['active', 'trialing', 'past_due'];
const WATCH_INTERVAL_MS = 1_000;
const WATCH_TIMEOUT_MS = 30_000;
const BACKGROUND_REFRESH_MS = 5_000;
const SEARCH_DEBOUNCE_MS = 250;
/** The browser's own "last user opened here" (simulator mode), preselected next time. */
const LAST_USER_KEY = 'billing-last-user';
/** The status the subscription had when the customer left for the billing portal. */
const PORTAL_LEFT_KEY = 'billing-portal-left-while';

const $ = (id) => document.getElementById(id);

const page = {
  mode: 'api-key',
  /** The API's user-id rule (from /billing/config.json). */
  userIdRule: null,
  userId: null,
  apiKey: null,
  interval: null,
  overview: null,
  watching: false,
  busy: false,
  /** A previewed plan change waiting for the customer's confirm: { plan, interval, preview }. */
  pending: null,
};

// ---- formatting -------------------------------------------------------------------------

const money = (minor, currency) =>
  new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: (currency || 'usd').toUpperCase(),
  }).format(minor / 100);
const number = (value) => new Intl.NumberFormat().format(value);
const date = (iso) =>
  iso
    ? new Date(iso).toLocaleDateString(undefined, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
      })
    : '—';
const metricName = (metric) => metric.replace(/_/g, ' ');

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function banner(text, kind = 'info') {
  const node = $('banner');
  node.hidden = !text;
  node.textContent = text || '';
  node.className = `banner ${kind}`;
}

// ---- API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

/**
 * One billing call. Simulator mode: through /billing/sim-api (the server adds the service
 * token), naming the picked user. API-key mode: straight to /api/billing with the user's key.
 */
async function call(method, action, { query = {}, body } = {}) {
  const params = new URLSearchParams(query);
  const headers = { accept: 'application/json' };
  let url;
  let payload = body;
  if (page.mode === 'simulator') {
    url = `/billing/sim-api/${action}`;
    if (method === 'GET') params.set('userId', page.userId);
    else payload = { userId: page.userId, ...(body || {}) };
  } else {
    url = `/api/billing/${action}`;
    headers.authorization = `Bearer ${page.apiKey}`;
  }
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    // One key per click: a retried request never repeats the change at Stripe.
    headers['idempotency-key'] = crypto.randomUUID();
  }
  const qs = params.toString();
  const response = await fetch(qs ? `${url}?${qs}` : url, {
    method,
    headers,
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: { message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

const loadOverview = () => call('GET', 'overview');

// ---- rendering --------------------------------------------------------------------------

const liveSubscription = (overview) =>
  overview.subscription && LIVE.includes(overview.subscription.status)
    ? overview.subscription
    : null;

function render(overview) {
  page.overview = overview;
  const { plans, usage } = overview;
  const subscription = overview.subscription;
  const live = liveSubscription(overview);
  if (!page.interval) page.interval = live?.interval === 'year' ? 'year' : 'month';

  $('account').hidden = false;
  const current = plans.find((plan) => plan.id === usage.planType);
  $('plan-name').textContent = current ? current.name : usage.planType;
  $('plan-name').dataset.planId = usage.planType;

  const status = subscription ? subscription.status : 'free';
  $('status').textContent = status.replace(/_/g, ' ');
  $('status').className = `status ${status}`;
  $('status').dataset.status = status;

  const interval = live?.interval
    ? ` · billed ${live.interval === 'year' ? 'yearly' : 'monthly'}`
    : '';
  const start = live ? live.currentPeriodStart : usage.periodStart;
  const end = live ? live.currentPeriodEnd : usage.periodEnd;
  $('period').textContent = `Current period ${date(start)} → ${date(end)}${interval}`;

  const note = $('cancel-note');
  if (live?.cancelAtPeriodEnd) {
    note.hidden = false;
    note.textContent = `Cancels on ${date(live.currentPeriodEnd)}: ${current?.name ?? 'the plan'} stays active until then.`;
  } else if (live?.status === 'past_due') {
    note.hidden = false;
    note.textContent =
      'The last payment failed. Stripe retries it; update the card to keep the plan.';
  } else {
    note.hidden = true;
  }
  renderEnded(overview);

  // Usage against the plan limit.
  const percent =
    usage.limit > 0 ? Math.min(100, (usage.used / usage.limit) * 100) : usage.used > 0 ? 100 : 0;
  $('usage-metric').textContent = `Usage · ${metricName(usage.metric)}`;
  $('usage-text').textContent = `${number(usage.used)} / ${number(usage.limit)}`;
  const fill = $('usage-fill');
  fill.style.width = `${percent}%`;
  fill.className = `fill${usage.used >= usage.limit && usage.limit > 0 ? ' over' : percent >= 80 ? ' high' : ''}`;
  $('usage-bar').dataset.percent = String(Math.round(percent));
  $('usage-bar').title = `${Math.round(percent)}% of the plan's ${metricName(usage.metric)}`;

  $('cancel').hidden = !live || live.cancelAtPeriodEnd;
  $('resume').hidden = !live?.cancelAtPeriodEnd;
  // Anyone Stripe knows as a customer can manage card and invoices; past due needs it most.
  const portal = $('portal');
  portal.hidden = !subscription;
  portal.textContent = live?.status === 'past_due' ? 'Update card' : 'Card and invoices';
  portal.className = live?.status === 'past_due' ? '' : 'secondary';

  for (const button of document.querySelectorAll('.switch button')) {
    button.setAttribute('aria-pressed', String(button.dataset.interval === page.interval));
  }
  renderPlans(overview);
  setBusy(page.busy);
  $('updated').textContent =
    `Updated ${new Date().toLocaleTimeString()}${page.watching ? ' · waiting for Stripe…' : ''}`;
}

/** A paid plan that ended: which, when, and what was used under it in its last period. */
function renderEnded(overview) {
  const ended = overview.ended;
  const box = $('ended');
  box.hidden = !ended;
  if (!ended) return;
  const name = ended.planName ?? ended.planId ?? 'paid';
  const billed = ended.interval ? ` (${ended.interval === 'year' ? 'yearly' : 'monthly'})` : '';
  $('ended-plan').textContent = `Your ${name} plan${billed} ended on ${date(ended.endedAt)}.`;
  const metric = overview.usage.metric;
  const figures = ended.usage[metric];
  $('ended-usage').textContent = figures
    ? `In its last period (${date(ended.periodStart)} → ${date(ended.periodEnd)}) you used ${number(figures.used)} of ${number(figures.limit)} ${metricName(metric)}. You are on the free plan now.`
    : 'You are on the free plan now.';
}

function renderPlans(overview) {
  const live = liveSubscription(overview);
  const cards = overview.plans.map((plan) => {
    const price = plan.isFree ? null : plan.prices?.[page.interval];
    const isCurrent = plan.isFree
      ? !live
      : Boolean(live && live.planId === plan.id && live.interval === page.interval);
    let action;
    if (isCurrent) {
      action = el(
        'button',
        { type: 'button', disabled: true, className: 'secondary' },
        'Current plan',
      );
    } else if (plan.isFree) {
      action = el(
        'button',
        { type: 'button', disabled: true, className: 'secondary' },
        'Included after cancelling',
      );
    } else if (!price) {
      action = el(
        'button',
        { type: 'button', disabled: true, className: 'secondary' },
        `No ${page.interval}ly price`,
      );
    } else {
      const label = live ? `Switch to ${plan.name}` : `Choose ${plan.name}`;
      action = el(
        'button',
        {
          type: 'button',
          dataset: { testid: `choose-${plan.id}`, action: 'choose' },
          onclick: () => choosePlan(plan),
        },
        label,
      );
    }
    const amount = plan.isFree
      ? el('div', { className: 'price' }, money(0, 'usd'), el('small', {}, ` / ${page.interval}`))
      : price
        ? el(
            'div',
            { className: 'price' },
            money(price.unitAmount ?? 0, price.currency),
            el('small', {}, ` / ${page.interval}`),
          )
        : el('div', { className: 'price' }, '—');
    const limits = Object.entries(plan.limits).map(([metric, limit]) =>
      el('li', {}, `${number(limit)} ${metricName(metric)}`),
    );
    const features = (plan.features || []).map((feature) => el('li', {}, feature));
    return el(
      'div',
      {
        className: `card plan${isCurrent ? ' is-current' : ''}`,
        dataset: { testid: `plan-${plan.id}`, planId: plan.id },
      },
      el('h3', {}, plan.name),
      amount,
      plan.description ? el('p', { className: 'desc' }, plan.description) : null,
      el('ul', {}, features.length > 0 ? features : limits),
      action,
    );
  });
  $('plans').replaceChildren(...cards);
}

function setBusy(busy) {
  page.busy = busy;
  for (const button of document.querySelectorAll(
    '#plans button[data-action], #cancel, #resume, #portal, #confirm button',
  )) {
    button.disabled = busy;
  }
}

// ---- live updates -----------------------------------------------------------------------

/**
 * Polls the overview every second until `done(overview)` holds: the webhook has landed and
 * the worker has applied it (and invalidated the cache). Gives up after 30 s.
 */
async function watch(done, { waiting, arrived, gaveUp }) {
  page.watching = true;
  banner(waiting);
  const deadline = Date.now() + WATCH_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
      const overview = await loadOverview();
      if (done(overview)) {
        page.watching = false;
        render(overview);
        banner(typeof arrived === 'function' ? arrived(overview) : arrived, 'done');
        // The picker shows each user's plan and status: refresh this one's.
        if (page.mode === 'simulator') loadUsers(page.userId).catch(() => undefined);
        return true;
      }
      render(overview);
    }
    banner(
      gaveUp ?? 'No webhook after 30 s: are the ingress and the webhook worker running?',
      gaveUp ? 'info' : 'error',
    );
    return false;
  } finally {
    page.watching = false;
  }
}

async function refresh() {
  try {
    render(await loadOverview());
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) {
    banner('That API key was not accepted.', 'error');
  } else {
    banner(error.message || String(error), 'error');
  }
}

// ---- actions ----------------------------------------------------------------------------

async function run(action) {
  if (page.busy) return;
  setBusy(true);
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    setBusy(false);
  }
}

function choosePlan(plan) {
  const interval = page.interval;
  const live = page.overview && liveSubscription(page.overview);
  return run(async () => {
    if (!live) {
      // A free user subscribes through Stripe Checkout; Stripe sends them back here.
      const back = new URL(window.location.href);
      back.search = '';
      if (page.mode === 'simulator') back.searchParams.set('user', page.userId);
      const success = new URL(back);
      success.searchParams.set('checkout', 'success');
      const cancel = new URL(back);
      cancel.searchParams.set('checkout', 'cancel');
      banner(`Opening checkout for ${plan.name}…`);
      const session = await call('POST', 'create-checkout-session', {
        body: { planId: plan.id, interval, successUrl: success.href, cancelUrl: cancel.href },
      });
      window.location.assign(session.url);
      return;
    }
    // A plan change is sent only after the customer has seen what it costs.
    banner(`Asking Stripe what ${plan.name} (${interval}ly) costs now…`);
    const preview = await call('GET', 'proration-preview', {
      query: { planId: plan.id, interval },
    });
    showConfirm({ plan, interval, preview });
  });
}

const describeProration = (preview) => {
  const amount = money(Math.abs(preview.amountDue), preview.currency);
  if (preview.amountDue > 0) return `${amount} now (prorated)`;
  if (preview.amountDue < 0) return `${amount} credit for the unused time (prorated)`;
  return 'No prorated charge';
};

/** Shows the previewed change and what it costs; nothing is sent until Confirm. */
function showConfirm(pending) {
  page.pending = pending;
  const { plan, interval, preview } = pending;
  $('confirm-title').textContent = `Switch to ${plan.name} (${interval}ly)?`;
  $('confirm-amount').textContent = describeProration(preview);
  $('confirm-amount').dataset.amountDue = String(preview.amountDue);
  $('confirm-detail').textContent =
    `The new plan from now, less the unused time of your current plan. Next invoice: ${money(preview.nextInvoiceAmountDue, preview.currency)} in total.`;
  $('confirm-upgrade').textContent = `Confirm: switch to ${plan.name}`;
  $('confirm').hidden = false;
  banner('');
  $('confirm-upgrade').focus();
}

function hideConfirm() {
  page.pending = null;
  $('confirm').hidden = true;
}

function confirmUpgrade() {
  const pending = page.pending;
  if (!pending) return;
  const { plan, interval, preview } = pending;
  return run(async () => {
    hideConfirm();
    // Charged exactly what was shown: the upgrade prorates from the preview's date.
    await call('POST', 'upgrade', {
      body: { planId: plan.id, interval, prorationDate: preview.prorationDate ?? undefined },
    });
    await watch(
      (overview) =>
        overview.subscription?.planId === plan.id && overview.subscription?.interval === interval,
      {
        waiting: `Switching to ${plan.name} (${interval}ly), ${describeProration(preview)}: sent to Stripe, waiting for the webhook…`,
        arrived: `You are now on ${plan.name} (${interval}ly).`,
      },
    );
  });
}

/** Stripe's customer portal: update the card (a past-due invoice is then retried), invoices. */
function openPortal() {
  return run(async () => {
    const back = new URL(window.location.href);
    back.search = '';
    if (page.mode === 'simulator') back.searchParams.set('user', page.userId);
    back.searchParams.set('portal', 'return');
    banner('Opening the billing portal…');
    const session = await call('POST', 'portal-session', { body: { returnUrl: back.href } });
    sessionStorage.setItem(PORTAL_LEFT_KEY, page.overview?.subscription?.status ?? '');
    window.location.assign(session.url);
  });
}

async function afterPortal() {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('portal')) return;
  url.searchParams.delete('portal');
  window.history.replaceState(null, '', url);
  const leftWhile = sessionStorage.getItem(PORTAL_LEFT_KEY);
  sessionStorage.removeItem(PORTAL_LEFT_KEY);
  if (leftWhile !== 'past_due') return;
  if (page.overview?.subscription?.status === 'active') {
    // The payment's webhook was quicker than the way back.
    banner('The payment went through: your plan is active again.', 'done');
    return;
  }
  if (page.overview?.subscription?.status !== 'past_due') return;
  // A new card pays the open invoice at Stripe; its webhook brings the plan back to active.
  await watch((overview) => overview.subscription?.status !== 'past_due', {
    waiting: 'Back from the billing portal: checking the payment with Stripe…',
    arrived: (overview) =>
      overview.subscription?.status === 'active'
        ? 'The payment went through: your plan is active again.'
        : `The subscription is ${overview.subscription?.status ?? 'gone'} now.`,
    gaveUp: 'The last payment is still open: Stripe retries it with the card on file.',
  });
}

function setCancel(cancel) {
  return run(async () => {
    await call('POST', cancel ? 'cancel' : 'resume');
    await watch((overview) => overview.subscription?.cancelAtPeriodEnd === cancel, {
      waiting: cancel
        ? 'Cancelling at the end of the period: waiting for the webhook…'
        : 'Keeping the subscription: waiting for the webhook…',
      arrived: cancel
        ? 'The subscription ends at the end of the period.'
        : 'The subscription continues.',
    });
  });
}

// ---- who is this for --------------------------------------------------------------------

/**
 * Fills the picker from GET /billing/users: the newest users, or with `query` the users whose
 * id contains it (searched on the server, so a user among thousands can be found). Returns
 * the server's suggestion (the newest user a bulk scenario did not create).
 */
async function loadUsers(selected, query = '') {
  const select = $('user-select');
  const qs = query ? `?${new URLSearchParams({ q: query })}` : '';
  const response = await fetch(`/billing/users${qs}`, { headers: { accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new ApiError(response.status, body);
  const { users, suggested } = body;
  const options = users.map((user) =>
    el(
      'option',
      { value: user.userId },
      `${user.userId}${user.planId ? ` · ${user.planId}` : ''}${user.status ? ` (${user.status})` : ''}`,
    ),
  );
  if (selected && !query && !users.some((user) => user.userId === selected))
    options.unshift(el('option', { value: selected }, selected));
  if (options.length === 0)
    options.push(
      el(
        'option',
        { value: '', disabled: true },
        query ? `no user id contains "${query}"` : 'no users yet: type a new id',
      ),
    );
  select.replaceChildren(...options);
  if (selected && users.some((user) => user.userId === selected)) select.value = selected;
  else if (selected && !query) select.value = selected;
  return suggested ?? null;
}

async function openUser(userId) {
  page.userId = userId;
  page.interval = null;
  hideConfirm();
  try {
    localStorage.setItem(LAST_USER_KEY, userId);
  } catch {
    // Storage may be off (private mode); the URL still names the user.
  }
  const url = new URL(window.location.href);
  url.searchParams.set('user', userId);
  window.history.replaceState(null, '', url);
  banner('');
  await refresh();
}

async function afterCheckout() {
  const url = new URL(window.location.href);
  const outcome = url.searchParams.get('checkout');
  if (!outcome) return;
  url.searchParams.delete('checkout');
  window.history.replaceState(null, '', url);
  if (outcome === 'cancel') {
    banner('Checkout cancelled: nothing changed.');
    return;
  }
  if (page.overview && liveSubscription(page.overview)) {
    banner('Payment received.', 'done');
    return;
  }
  await watch((overview) => Boolean(liveSubscription(overview)), {
    waiting: 'Payment received at Stripe: waiting for the webhook…',
    arrived: (overview) =>
      `Welcome to ${overview.plans.find((plan) => plan.id === overview.subscription.planId)?.name ?? 'your plan'}.`,
  });
}

async function start() {
  const config = await fetch('/billing/config.json').then((r) => r.json());
  page.mode = config.mode;
  // The API's user-id rule, compiled as the API compiles it; the browser compiles the
  // `pattern` attribute with the `v` flag, for which the rule is written too.
  page.userIdRule = new RegExp(`^(?:${config.userIdPattern})$`);
  $('user-new').pattern = config.userIdPattern;
  const mode = $('mode');
  mode.textContent = page.mode === 'simulator' ? 'Simulator mode' : 'API key';
  mode.className = `mode ${page.mode}`;

  for (const button of document.querySelectorAll('.switch button')) {
    button.addEventListener('click', () => {
      page.interval = button.dataset.interval;
      if (page.overview) render(page.overview);
    });
  }
  $('cancel').addEventListener('click', () => setCancel(true));
  $('resume').addEventListener('click', () => setCancel(false));
  $('portal').addEventListener('click', () => openPortal());
  $('confirm-upgrade').addEventListener('click', () => confirmUpgrade());
  $('confirm-dismiss').addEventListener('click', () => {
    hideConfirm();
    banner('Nothing changed.');
  });

  const params = new URLSearchParams(window.location.search);
  if (page.mode === 'simulator') {
    $('who-simulator').hidden = false;
    const wanted = params.get('user');
    let remembered = null;
    try {
      remembered = localStorage.getItem(LAST_USER_KEY);
    } catch {
      // no storage: fall back to the server's suggestion
    }
    const suggested = await loadUsers(wanted || remembered);
    let searchTimer;
    $('user-search').addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        const query = $('user-search').value.trim();
        loadUsers(page.userId, query).catch(showError);
      }, SEARCH_DEBOUNCE_MS);
    });
    $('user-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const typed = $('user-new').value.trim();
      const userId = typed || $('user-select').value;
      if (!page.userIdRule.test(userId)) {
        banner('A user id is 1-200 letters, digits and _ . : @ | -', 'error');
        return;
      }
      $('user-new').value = '';
      $('user-search').value = '';
      void loadUsers(userId).then(() => openUser(userId));
    });
    // Who to show: the URL's user, else the one this browser last opened, else the newest
    // user not made by a bulk scenario (never a renewal-storm customer), else the newest.
    const initial = wanted || remembered || suggested || $('user-select').value;
    if (initial) {
      if (initial !== (wanted || remembered)) await loadUsers(initial);
      await openUser(initial);
      await afterCheckout();
      await afterPortal();
    }
  } else {
    $('who-key').hidden = false;
    page.apiKey = sessionStorage.getItem('billing-api-key');
    $('key-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      page.apiKey = $('api-key').value.trim();
      if (await refresh()) sessionStorage.setItem('billing-api-key', page.apiKey);
    });
    if (page.apiKey) {
      await refresh();
      await afterCheckout();
      await afterPortal();
    }
  }

  // Changes made elsewhere (another tab, `npm run simulate`) show up within a few seconds.
  setInterval(() => {
    const ready = page.mode === 'simulator' ? page.userId : page.apiKey;
    if (ready && !page.busy && !page.watching && document.visibilityState === 'visible') {
      loadOverview().then(render, () => undefined);
    }
  }, BACKGROUND_REFRESH_MS);
}

start().catch(showError);
