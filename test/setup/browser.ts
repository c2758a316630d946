/**
 * The browser for the web-app test: Debian's Chromium driven through playwright-core (never a downloaded
 * browser). When /usr/bin/chromium is missing, `ensureChromium` installs it with apt-get (as root, or through
 * sudo), so that `npm test` on a fresh Debian machine needs nothing installed by hand. Anywhere else it throws a
 * one-line message saying what to install.
 */
import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

/** Make sure /usr/bin/chromium exists, installing Debian's package when it does not (several minutes, once). */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const hint = `the web-app test needs Debian's chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (!onPath('apt-get')) throw new Error(`${hint}; apt-get is not available here, install Chromium there by hand`);
  const root = process.getuid?.() === 0;
  if (!root && !onPath('sudo')) throw new Error(`${hint}; not root and no sudo: run it once by hand`);
  const run = (args: string[]) => {
    const [cmd, ...rest] = root ? args : ['sudo', '-n', ...args];
    execFileSync(cmd!, rest, {stdio: ['ignore', 'inherit', 'inherit'], env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}});
  };
  console.log(`${CHROMIUM} is missing: installing Debian's chromium for the web-app test (apt-get, once)`);
  try {
    run(['apt-get', 'update']);
    run(['apt-get', 'install', '-y', 'chromium']);
  } catch (e) {
    throw new Error(`${hint}; installing it failed: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${hint}; apt-get finished but ${CHROMIUM} is still missing`);
}
