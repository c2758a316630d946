/** Start the web app on a Node HTTP server (localhost by default). */
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {serve} from '@hono/node-server';
import {type AppOptions, LOCAL_HOSTS, type WebApp, createApp} from './app.js';
import type {ModelBundle} from './bundle.js';

export interface ServeOptions extends Omit<AppOptions, 'allowedHosts'> {
  /** 0 = any free port. Default 8787. */
  port?: number;
  /** Interface to bind; default 127.0.0.1 (this machine only). */
  host?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  web: WebApp;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

export async function startServer(bundle: ModelBundle, opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  // On loopback, answer only requests addressed to this machine (DNS-rebinding guard); a public bind serves any Host.
  const allowedHosts = isLoopback(host) ? [...LOCAL_HOSTS, host.includes(':') ? `[${host}]` : host] : null;
  const web = createApp(bundle, {...opts, allowedHosts});
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({fetch: web.app.fetch, port: opts.port ?? 8787, hostname: host}, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const {port} = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    web,
    close: () =>
      new Promise<void>((resolve) => {
        web.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
