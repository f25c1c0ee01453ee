import type { RequestHandler } from 'express';

/**
 * A gate for browser-facing routes that act with the server's own credentials (the billing
 * page's simulator mode, the Stripe simulator's pages): only pages served from one of the
 * allowed origins may use them.
 *
 * 1. Host: the Host header must name an allowed host. A DNS-rebinding page resolves its own
 *    name (attacker.example) to 127.0.0.1; the browser then sends `Host: attacker.example`
 *    and treats the answer as same-origin, so only the Host header gives it away.
 * 2. Cross-site: `Sec-Fetch-Site: cross-site | same-site` or an `Origin` that is not the
 *    request's own origin → refused, for reads too (a read can leak data, e.g. user lists),
 *    except a top-level navigation (`Sec-Fetch-Mode: navigate`, GET/HEAD): the opener cannot
 *    read the page, and being linked to is what these pages are for.
 * 3. State changes (anything but GET/HEAD/OPTIONS) need `Content-Type: application/json`
 *    (a cross-site form or `text/plain` fetch cannot send it without a CORS preflight, which
 *    this server never grants) and positive proof of same origin: an `Origin` equal to the
 *    request's own, or `Sec-Fetch-Site: same-origin`. A client that sends neither (curl) is
 *    refused too; browsers always send one of them on a POST.
 *
 * Refusals are 403 with a JSON body naming the rule; nothing behind the gate runs.
 */
export interface SameOriginOptions {
  /**
   * Extra origins the routes are served under (e.g. `https://billing.example.com`), beyond
   * loopback. Loopback (`localhost`, `127.0.0.1`, `[::1]` on any port) is allowed unless
   * `allowLoopback` is false.
   */
  origins?: readonly string[];
  allowLoopback?: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** `host[:port]` → lower-case hostname (IPv6 in brackets), or undefined when malformed. */
function hostnameOf(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

export function sameOriginGate(options: SameOriginOptions = {}): RequestHandler {
  const allowLoopback = options.allowLoopback ?? true;
  const configured = (options.origins ?? []).map((origin) => new URL(origin));
  const hostAllowed = (host: string | undefined): boolean => {
    if (!host) return false;
    const name = hostnameOf(host);
    if (!name) return false;
    if (allowLoopback && LOOPBACK.has(name)) return true;
    return configured.some((url) => url.host.toLowerCase() === host.toLowerCase());
  };

  return (req, res, next) => {
    // Answered here (not through an error handler) so any Express app can mount the gate.
    const refuse = (rule: string, message: string) => {
      res.status(403).json({ error: { code: 'forbidden', rule, message } });
    };
    const host = req.headers.host;
    if (!hostAllowed(host)) {
      refuse('host', `requests for host "${host ?? ''}" are not served here`);
      return;
    }
    // The request's own origin, as a browser on this page would write it.
    const protocol = req.protocol === 'https' ? 'https' : 'http';
    const own = `${protocol}://${host!.toLowerCase()}`;
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    // A top-level navigation (a link or redirect opening the page) may come from any site:
    // the opening page cannot read the document it navigates to, and links into these pages
    // from elsewhere are their purpose (the app's "Manage billing" link, Checkout's return).
    // Host is still checked above; the page's own reads and writes are fetches, gated below.
    const navigation =
      (req.method === 'GET' || req.method === 'HEAD') &&
      req.headers['sec-fetch-mode'] === 'navigate';
    if (navigation) {
      res.vary('Origin');
      next();
      return;
    }
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      refuse('cross_site', `cross-site requests are refused (Sec-Fetch-Site: ${site})`);
      return;
    }
    if (origin !== undefined && origin.toLowerCase() !== own) {
      refuse('cross_site', `cross-origin requests are refused (Origin: ${origin.slice(0, 100)})`);
      return;
    }
    if (!SAFE_METHODS.has(req.method)) {
      if (!isJson(req.headers['content-type'])) {
        refuse('content_type', 'state changes need Content-Type: application/json');
        return;
      }
      if (origin === undefined && site !== 'same-origin') {
        refuse(
          'origin',
          'state changes need an Origin header of this page (or Sec-Fetch-Site: same-origin)',
        );
        return;
      }
    }
    res.vary('Origin');
    next();
  };
}
