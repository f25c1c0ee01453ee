import { styleText } from 'node:util';

// A pino JSON line as one readable line: `api              12:00:01 INFO  message  key=value`.
// Written here rather than taken from pino-pretty: pino-pretty puts time and level first and
// prints the extra fields as JSON or over several lines; for five processes sharing one
// terminal the app name must lead and every log must stay on one line.

const LEVELS: Record<number, { name: string; style?: Parameters<typeof styleText>[0] }> = {
  10: { name: 'TRACE', style: 'gray' },
  20: { name: 'DEBUG', style: 'gray' },
  30: { name: 'INFO', style: 'green' },
  40: { name: 'WARN', style: 'yellow' },
  50: { name: 'ERROR', style: 'red' },
  60: { name: 'FATAL', style: ['bgRed', 'white'] },
};

/** Fields shown elsewhere on the line, or noise in a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'app', 'pid', 'hostname', 'v']);

/** Width of the app column: the longest app name `npm start` runs. */
export const APP_WIDTH = 16;

const show = (value: unknown): string => {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Object) return JSON.stringify(value);
  return String(value);
};

export interface FormatOptions {
  color?: boolean;
}

export function formatLine(line: string, options: FormatOptions = {}): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const paint = (style: Parameters<typeof styleText>[0] | undefined, text: string) =>
    options.color && style ? styleText(style, text) : text;
  const level = LEVELS[record.level as number] ?? { name: String(record.level) };
  const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
  const app = String(record.app ?? '').padEnd(APP_WIDTH);
  const fields: string[] = [];
  let error = '';
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    if (key === 'err' && value && typeof value === 'object') {
      // One line: the error's type and message; the stack stays in JSON mode.
      const err = value as { type?: string; message?: string };
      error = ` ${paint('red', `${err.type ?? 'Error'}: ${err.message ?? ''}`)}`;
      continue;
    }
    fields.push(`${paint('gray', `${key}=`)}${show(value)}`);
  }
  const message = String(record.msg ?? '').replace(/\s*\n\s*/g, ' ');
  return `${paint('cyan', app)} ${paint('gray', time)} ${paint(level.style, level.name.padEnd(5))} ${message}${error}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}
