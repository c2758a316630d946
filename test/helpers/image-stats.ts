/** Per-channel closeness of two 8-bit RGB images, as the fixtures README §10 states the alignment tolerance. */
import type {RgbImage} from '../../src/align/ffhq-align.js';

/** Per channel: mean and 99th percentile of |a − b| (8-bit values). */
export function channelStats(a: RgbImage, b: RgbImage): {mean: number; p99: number}[] {
  return [0, 1, 2].map((c) => {
    const d: number[] = [];
    for (let i = 0; i < a.width * a.height; i++) d.push(Math.abs(a.data[i * 3 + c]! - b.data[i * 3 + c]!));
    d.sort((x, y) => x - y);
    return {mean: d.reduce((s, x) => s + x, 0) / d.length, p99: d[Math.floor(0.99 * d.length)]!};
  });
}
