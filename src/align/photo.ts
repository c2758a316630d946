/**
 * Decoding a user's photo for alignment with sharp: EXIF orientation applied (`rotate()`), transparency flattened
 * onto white, greyscale / CMYK / 16-bit / palette inputs converted to 8-bit sRGB. Bytes that are not an image
 * give a named error.
 */
import sharp from 'sharp';
import {StyleclipError} from '../errors.js';
import type {RgbImage} from './ffhq-align.js';

/** Largest photo side accepted (pixels); larger inputs are refused before decoding. */
export const MAX_PHOTO_SIDE = 16384;

/** Decode a photo to 8-bit sRGB; `maxPixels` (width × height) refuses larger photos before decoding. */
export async function decodePhoto(bytes: Uint8Array, what = 'photo', maxPixels = MAX_PHOTO_SIDE * MAX_PHOTO_SIDE): Promise<RgbImage> {
  const meta = await sharp(bytes)
    .metadata()
    .catch((e: unknown) => {
      throw new StyleclipError(`${what} is not an image (${(e as Error).message.split('\n')[0]})`);
    });
  if (!meta.width || !meta.height) throw new StyleclipError(`${what} is not an image (no size)`);
  if (meta.width > MAX_PHOTO_SIDE || meta.height > MAX_PHOTO_SIDE) throw new StyleclipError(`${what} is ${meta.width}×${meta.height}; photos up to ${MAX_PHOTO_SIDE} px a side are accepted`);
  if (meta.width * meta.height > maxPixels) throw new StyleclipError(`${what} is ${meta.width}×${meta.height}; photos up to ${maxPixels >= 1e6 ? `${Number((maxPixels / 1e6).toFixed(1))} megapixels` : `${maxPixels} pixels`} are accepted`);
  try {
    const {data, info} = await sharp(bytes, {limitInputPixels: MAX_PHOTO_SIDE * MAX_PHOTO_SIDE})
      .rotate()
      .flatten({background: '#ffffff'})
      .toColourspace('srgb')
      .removeAlpha()
      .raw({depth: 'uchar'})
      .toBuffer({resolveWithObject: true});
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height};
  } catch (e) {
    throw new StyleclipError(`cannot decode ${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** PNG bytes of an RGB image. */
export async function encodeRgbPng(img: RgbImage): Promise<Uint8Array> {
  const png = await sharp(img.data, {raw: {width: img.width, height: img.height, channels: 3}}).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
