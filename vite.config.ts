/** Builds the browser UI (src/web) into dist/web, which `styleclip serve` serves. Run by `npm run build`. */
import {fileURLToPath} from 'node:url';
import {defineConfig} from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src/web/', import.meta.url)),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist/web/', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // No inline scripts or data: modules: the server's Content-Security-Policy allows only same-origin files.
    assetsInlineLimit: 0,
    modulePreload: {polyfill: false},
  },
});
