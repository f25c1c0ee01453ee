import net from 'node:net';

/**
 * True when something accepts TCP connections on `host:port` within `timeoutMs`; false on a
 * refusal, an error or silence. The harness asks it whether local Postgres/Redis are there,
 * drills whether a server they started is up yet. (scripts/stack.mjs keeps a copy: it runs
 * before `pnpm install`, as plain JavaScript, so it cannot import this package.)
 */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
