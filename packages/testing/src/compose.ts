import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from './repo-root.js';

/**
 * What `docker compose config` renders for this repository's docker-compose.yml: the services
 * with their environment after interpolation, so tests can feed each app's config loader the
 * exact environment Compose gives its container.
 *
 * The Docker Compose CLI renders it when it is installed (`docker compose config` needs no
 * engine). Without it (CI images and this machine ship the docker client without the
 * compose plugin) the file is rendered here: YAML merge keys plus Compose's interpolation
 * rules (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`,
 * `${VAR:?message}`, `$$`), nested defaults included.
 */
export interface ComposeService {
  environment: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown; disable?: boolean };
  profiles?: string[];
  command?: unknown;
  ports?: unknown[];
  image?: string;
  build?: unknown;
}
export interface ComposeProject {
  services: Record<string, ComposeService>;
  /** How it was rendered: `docker compose` or this module's own renderer. */
  renderer: 'docker compose' | 'yaml';
}

export interface RenderComposeOptions {
  /** An env file standing in for the project's `.env` (e.g. `.env.example`); none: no `.env`. */
  envFile?: string;
  /** Variables set in the shell that runs compose (they win over the env file, as in Compose). */
  shell?: Record<string, string>;
  file?: string;
  /** Skip the Docker CLI even when it is installed (tests of the renderer itself). */
  forceYaml?: boolean;
}

export function renderCompose(options: RenderComposeOptions = {}): ComposeProject {
  const file = options.file ?? path.join(repoRoot(), 'docker-compose.yml');
  const fromFile = options.envFile ? parseEnv(readFileSync(options.envFile, 'utf8')) : {};
  const variables: Record<string, string> = {
    ...(fromFile as Record<string, string>),
    ...options.shell,
  };
  if (!options.forceYaml) {
    const rendered = renderWithDocker(file, options);
    if (rendered) return rendered;
  }
  const document = parse(readFileSync(file, 'utf8'), { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
  };
  const services: Record<string, ComposeService> = {};
  for (const [name, raw] of Object.entries(document.services)) {
    const service = interpolateDeep(raw, variables) as Record<string, unknown>;
    services[name] = {
      ...(service as Omit<ComposeService, 'environment' | 'depends_on'>),
      environment: normaliseEnvironment(service.environment, variables),
      depends_on: normaliseDependsOn(service.depends_on),
    };
  }
  return { services, renderer: 'yaml' };
}

function renderWithDocker(file: string, options: RenderComposeOptions): ComposeProject | undefined {
  const version = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' });
  if (version.status !== 0) return undefined;
  // An explicit --env-file stops Compose from reading a developer's own `.env`; /dev/null is "none".
  const result = spawnSync(
    'docker',
    [
      'compose',
      '--env-file',
      options.envFile ?? '/dev/null',
      '-f',
      file,
      'config',
      '--format',
      'json',
    ],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.shell },
    },
  );
  if (result.status !== 0) throw new Error(`docker compose config failed: ${result.stderr}`);
  const json = JSON.parse(result.stdout) as { services: Record<string, Record<string, unknown>> };
  const services: Record<string, ComposeService> = {};
  for (const [name, service] of Object.entries(json.services)) {
    services[name] = {
      ...(service as Omit<ComposeService, 'environment' | 'depends_on'>),
      environment: normaliseEnvironment(service.environment, {}),
      depends_on: normaliseDependsOn(service.depends_on),
    };
  }
  return { services, renderer: 'docker compose' };
}

/**
 * A variable listed without a value (`NAME:` or `- NAME`) is passed through from the shell or
 * env file when set there and left out of the container's environment otherwise.
 */
function normaliseEnvironment(
  value: unknown,
  variables: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const passThrough = (name: string) => {
    if (variables[name] !== undefined) out[name] = variables[name];
  };
  if (Array.isArray(value)) {
    for (const entry of value) {
      const [name, ...rest] = String(entry).split('=');
      if (rest.length > 0) out[name!] = rest.join('=');
      else passThrough(name!);
    }
  } else if (value && typeof value === 'object') {
    for (const [name, v] of Object.entries(value)) {
      if (v === null || v === undefined) passThrough(name);
      else out[name] = String(v);
    }
  }
  return out;
}

function normaliseDependsOn(value: unknown): ComposeService['depends_on'] {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((name) => [String(name), { condition: 'service_started' }]),
    );
  }
  return value as ComposeService['depends_on'];
}

function interpolateDeep(value: unknown, variables: Record<string, string>): unknown {
  if (typeof value === 'string') return interpolate(value, variables);
  if (Array.isArray(value)) return value.map((item) => interpolateDeep(item, variables));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateDeep(item, variables)]),
    );
  }
  return value;
}

/** Compose's variable interpolation of one string (see the module comment for the forms). */
export function interpolate(text: string, variables: Record<string, string>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (char !== '$') {
      out += char;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = matchingBrace(text, i + 1);
      out += expand(text.slice(i + 2, end), variables);
      i = end + 1;
    } else {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0];
      if (!name) {
        out += '$';
        i += 1;
      } else {
        out += variables[name] ?? '';
        i += 1 + name.length;
      }
    }
  }
  return out;
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth += 1;
    else if (text[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  throw new Error(`unterminated \${ in "${text}"`);
}

function expand(body: string, variables: Record<string, string>): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
  if (!match) throw new Error(`invalid interpolation "\${${body}}"`);
  const [, name, operator, argument = ''] = match;
  const value = variables[name!];
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (operator) {
    case undefined:
      return value ?? '';
    case ':-':
      return nonEmpty ? value! : interpolate(argument, variables);
    case '-':
      return set ? value! : interpolate(argument, variables);
    case ':+':
      return nonEmpty ? interpolate(argument, variables) : '';
    case '+':
      return set ? interpolate(argument, variables) : '';
    case ':?':
    case '?':
      if (operator === ':?' ? nonEmpty : set) return value!;
      throw new Error(`required variable ${name} is missing a value: ${argument}`);
    default:
      throw new Error(`invalid interpolation "\${${body}}"`);
  }
}

/**
 * The environments Compose gives `service` in the two set-ups a new user starts from: no
 * `.env` at all, and `.env` copied from `.env.example`. Each is `[label, environment]`, for
 * `it.each` in the app's config tests.
 */
export function composeEnvironments(service: string): Array<[string, Record<string, string>]> {
  const cases: Array<[string, RenderComposeOptions]> = [
    ['no .env', {}],
    ['.env from .env.example', { envFile: path.join(repoRoot(), '.env.example') }],
  ];
  return cases.map(([label, options]) => {
    const rendered = renderCompose(options).services[service];
    if (!rendered) throw new Error(`docker-compose.yml has no service "${service}"`);
    return [label, rendered.environment];
  });
}
