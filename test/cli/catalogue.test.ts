/** The checkpoint catalogue is well-formed, and its OpenAI CLIP hashes are the ones their URLs carry. */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import {MODEL_CATALOGUE, CATALOGUE_OVERRIDE_ENV, describeSize, entryProblems, findModel, formatBytes, loadCatalogue} from '../../src/cli/catalogue.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-catalogue-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe('MODEL_CATALOGUE', () => {
  it('has well-formed entries with unique names and files', () => {
    for (const e of MODEL_CATALOGUE) expect(entryProblems(e), e.name).toEqual([]);
    const names = MODEL_CATALOGUE.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    const files = MODEL_CATALOGUE.map((e) => e.file);
    expect(new Set(files).size).toBe(files.length);
  });

  it('uses https URLs and sha256 that is null or 64 lower-case hex digits', () => {
    for (const e of MODEL_CATALOGUE) {
      expect(new URL(e.url).protocol, e.name).toBe('https:');
      if (e.sha256 !== null) expect(e.sha256, e.name).toMatch(/^[0-9a-f]{64}$/);
      if (e.bytes !== null) expect(Number.isSafeInteger(e.bytes) && e.bytes > 0, e.name).toBe(true);
    }
  });

  it("gives OpenAI CLIP entries the sha256 that is their URL's path segment (what clip.py verifies)", () => {
    const openai = MODEL_CATALOGUE.filter((e) => new URL(e.url).hostname === 'openaipublic.azureedge.net');
    expect(openai.map((e) => e.name).sort()).toEqual(['clip-vit-b-16', 'clip-vit-b-32', 'clip-vit-l-14']);
    for (const e of openai) {
      const parts = new URL(e.url).pathname.split('/');
      expect(e.sha256, e.name).toBe(parts[parts.length - 2]);
      expect(parts[parts.length - 1], e.name).toBe(e.file);
      expect(e.kind).toBe('clip');
    }
  });

  it('covers the checkpoints the issue names, each with a usage flag and a source', () => {
    const byKind = (k: string) => MODEL_CATALOGUE.filter((e) => e.kind === k).map((e) => e.name);
    expect(byKind('generator')).toEqual(expect.arrayContaining(['stylegan2-ffhq-config-f', 'stylegan2-car-config-f', 'stylegan2-church-config-f', 'stylegan2-cat-config-f']));
    expect(byKind('clip')).toEqual(expect.arrayContaining(['clip-vit-b-32', 'clip-vit-b-16']));
    expect(byKind('identity')).toEqual(['ir-se50']);
    const flag = {generator: '--generator ', clip: '--clip ', identity: '--identity '};
    for (const e of MODEL_CATALOGUE) {
      expect(e.usage.startsWith(flag[e.kind]), e.name).toBe(true);
      expect(e.source.length, e.name).toBeGreaterThan(0);
    }
  });

  it('never claims a hash for the Google Drive entries (none is published)', () => {
    for (const e of MODEL_CATALOGUE.filter((x) => new URL(x.url).hostname === 'drive.google.com')) {
      expect(e.sha256, e.name).toBeNull();
      expect(e.bytes, e.name).toBeNull();
    }
  });
});

describe('catalogue helpers', () => {
  it('findModel is case-insensitive and lists the known names when the name is unknown', () => {
    expect(findModel('CLIP-ViT-B-32').file).toBe('ViT-B-32.pt');
    expect(() => findModel('vit-b-99')).toThrow(StyleclipError);
    expect(() => findModel('vit-b-99')).toThrow(/unknown model 'vit-b-99'; known models: .*clip-vit-b-32.*ir-se50/);
  });

  it('formats sizes and says unknown when the size is not published', () => {
    expect(formatBytes(353976522)).toBe('353.98 MB');
    expect(formatBytes(512)).toBe('512 B');
    expect(describeSize(findModel('ir-se50'))).toBe('unknown');
  });

  it('entryProblems names what is wrong', () => {
    const good = {...findModel('clip-vit-b-32')};
    expect(entryProblems({...good, url: 'http://example.com/x'})).toEqual(['\'url\' must be https, got http:']);
    expect(entryProblems({...good, url: 'http://127.0.0.1/x'}, {allowHttp: true})).toEqual([]);
    expect(entryProblems({...good, sha256: 'ABC'})[0]).toMatch(/sha256/);
    expect(entryProblems({...good, file: '../x.pt'})[0]).toMatch(/plain file name/);
    expect(entryProblems({...good, kind: 'vae'})[0]).toMatch(/kind/);
    expect(entryProblems(null)).toEqual(['not an object']);
  });

  it('loadCatalogue uses the test-only override file and validates it', () => {
    expect(loadCatalogue({})).toBe(MODEL_CATALOGUE);
    const ok = path.join(tmp, 'ok.json');
    writeFileSync(ok, JSON.stringify([{...findModel('clip-vit-b-32'), name: 'local', url: 'http://127.0.0.1:1/x'}]));
    expect(loadCatalogue({[CATALOGUE_OVERRIDE_ENV]: ok}).map((e) => e.name)).toEqual(['local']);
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify([{name: 'x'}]));
    expect(() => loadCatalogue({[CATALOGUE_OVERRIDE_ENV]: bad})).toThrow(/entry 0: /);
    expect(() => loadCatalogue({[CATALOGUE_OVERRIDE_ENV]: path.join(tmp, 'missing.json')})).toThrow(/cannot be read as JSON/);
  });
});
