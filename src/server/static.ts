/**
 * The built browser UI (vite build output: index.html + assets/): served read-only from one directory. Only
 * index.html and regular files under assets/ are served; a path that resolves outside them (.., encoded
 * separators, symlinks) is not found.
 */
import {readFileSync, realpathSync, statSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

/** dist/web of the package (the same relative URL works from src/server and dist/server). */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../dist/web/', import.meta.url));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export interface StaticFile {
  bytes: Uint8Array;
  type: string;
}

export interface StaticFiles {
  /** A file by its path relative to the root ('index.html', 'assets/x.js'), or null. */
  read(rel: string): StaticFile | null;
}

export function staticFiles(root: string): StaticFiles {
  const base = path.resolve(root);
  const assets = path.join(base, 'assets') + path.sep;
  const cache = new Map<string, StaticFile>();
  return {
    read(rel) {
      if (rel.includes('\0')) return null;
      const file = path.resolve(base, rel);
      if (file !== path.join(base, 'index.html') && !file.startsWith(assets)) return null;
      const hit = cache.get(file);
      if (hit) return hit;
      try {
        if (!statSync(file).isFile()) return null;
        const real = realpathSync(file);
        const realBase = realpathSync(base);
        if (real !== path.join(realBase, 'index.html') && !real.startsWith(path.join(realBase, 'assets') + path.sep)) return null;
        const buf = readFileSync(real);
        const out = {bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), type: TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'};
        if (cache.size < 200) cache.set(file, out);
        return out;
      } catch {
        return null;
      }
    },
  };
}
