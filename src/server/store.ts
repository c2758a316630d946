/**
 * In-memory stores of the web app: latents (W+ and/or S of one image), PNG images and uploaded photos' aligned
 * faces, addressed by random ids. All are bounded (least recently used entries go first), so a long session cannot
 * exhaust memory.
 */
import {randomBytes} from 'node:crypto';
import type {RgbImage} from '../align/ffhq-align.js';
import type {HostTensor} from '../io/host-tensor.js';

/** A random, unguessable id (URL-safe). */
export function newId(): string {
  return randomBytes(9).toString('base64url');
}

/** A bounded map that forgets its least recently used entries. */
class LruStore<T> {
  private readonly map = new Map<string, T>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly size: (v: T) => number;

  constructor(maxEntries: number, maxBytes = Infinity, size: (v: T) => number = () => 0) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.size = size;
  }

  get(id: string): T | undefined {
    const v = this.map.get(id);
    if (v !== undefined) {
      this.map.delete(id);
      this.map.set(id, v);
    }
    return v;
  }

  add(v: T, id = newId()): string {
    this.map.set(id, v);
    this.bytes += this.size(v);
    while (this.map.size > 1 && (this.map.size > this.maxEntries || this.bytes > this.maxBytes)) {
      const [oldest, old] = this.map.entries().next().value as [string, T];
      this.map.delete(oldest);
      this.bytes -= this.size(old);
    }
    return id;
  }

  get count(): number {
    return this.map.size;
  }
}

/** One image's latent: W+ [1, L, D] when known, and always its StyleSpace vectors (one [1, C_k] per layer). */
export interface LatentEntry {
  /** null after a StyleSpace (global-direction) edit, which has no W+. */
  wPlus: HostTensor | null;
  styles: HostTensor[];
  /** Id of the rendered image in the image store. */
  imageId: string;
  /** How it was made: 'seed 3', 'upload w.npy', 'global: …', 'optimize: …', 'mapper …'. */
  label: string;
}

/** An uploaded photo's aligned face, waiting to be inverted. */
export interface PhotoEntry {
  name: string;
  /** The aligned face, side × side. */
  image: RgbImage;
  mode: 'detected' | 'as-is';
}

export interface Stores {
  latents: LruStore<LatentEntry>;
  images: LruStore<Uint8Array>;
  photos: LruStore<PhotoEntry>;
}

export function createStores({maxLatents = 500, maxImages = 2000, maxImageBytes = 256 * 2 ** 20, maxPhotos = 50, maxPhotoBytes = 128 * 2 ** 20} = {}): Stores {
  return {
    latents: new LruStore<LatentEntry>(maxLatents),
    images: new LruStore<Uint8Array>(maxImages, maxImageBytes, (b) => b.byteLength),
    photos: new LruStore<PhotoEntry>(maxPhotos, maxPhotoBytes, (p) => p.image.data.byteLength),
  };
}
