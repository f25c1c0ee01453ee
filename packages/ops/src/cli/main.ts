import { type Command, USAGE, wantsHelp } from './usage.js';

/**
 * The entry of every ops CLI. `--help` is answered from the usage lines alone, before the
 * database, queue and Stripe code is loaded. Logs go to stderr (readable on a terminal, JSON
 * otherwise), so stdout carries only the command's report, `--json` included. On a terminal,
 * backfill progress is one line on stderr rewritten in place.
 */
export async function cliMain(command: Command): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(`usage: ${USAGE[command]}\n`);
    return;
  }
  const { configureLogger } = await import('@billing/logger');
  configureLogger({ app: `ops-${command}`, destination: 'stderr' });
  const [{ processEnv }, { runCli }] = await Promise.all([
    import('@billing/config'),
    import('./run.js'),
  ]);
  const tty = Boolean(process.stderr.isTTY);
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) process.stderr.write('\r\x1b[2K');
    progressShown = false;
  };
  process.exitCode = await runCli(command, argv, processEnv(), {
    out: (text) => {
      clearProgress();
      process.stdout.write(`${text}\n`);
    },
    err: (text) => {
      clearProgress();
      process.stderr.write(`${text}\n`);
    },
    progress: tty
      ? (text) => {
          process.stderr.write(`\r\x1b[2K${text}`);
          progressShown = true;
        }
      : (text) => process.stderr.write(`${text}\n`),
    progressEvery: tty ? 10 : 1000,
  });
  clearProgress();
}
