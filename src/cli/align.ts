/** `styleclip align`: the FFHQ face alignment of a photo (detected or given landmarks). */
import type {Command} from 'commander';
import {alignFace, parseLandmarks} from '../align/align-face.js';
import {encodeRgbPng} from '../align/photo.js';
import {check} from '../errors.js';
import {readBytes, writeFileAtomic} from '../io/files.js';
import {parseIntStrict} from './options.js';

interface AlignFlags {
  out: string;
  landmarks?: string;
  size: number;
  face?: number;
  json?: boolean;
}

export function registerAlign(program: Command): void {
  program
    .command('align')
    .description('crop and align the face of a photo as FFHQ / e4e do (eyes and mouth at fixed places)')
    .argument('<photo>', 'the photo (PNG, JPEG, WebP, TIFF, …; EXIF orientation is applied)')
    .requiredOption('--out <file.png>', 'the aligned face')
    .option('--landmarks <file.json>', 'a JSON array of 68 [x, y] landmarks in iBUG order (otherwise they are detected)')
    .option('--size <n>', 'side of the aligned image', parseIntStrict('--size', {min: 8}), 256)
    .option('--face <n>', 'which face when there are several: 0 = the largest (default), 1 = the next, …', parseIntStrict('--face', {min: 0}))
    .option('--json', 'print the landmarks, the quad and the detected faces as JSON')
    .addHelpText(
      'after',
      `
Examples:
  styleclip align photo.jpg --out aligned.png
  styleclip align group.jpg --face 1 --out second.png --json`,
    )
    .action(async (photo: string, flags: AlignFlags) => runAlign(photo, flags));
}

async function runAlign(photo: string, flags: AlignFlags): Promise<void> {
  check(flags.out.toLowerCase().endsWith('.png'), `--out must be a .png file, got '${flags.out}'`);
  check(!(flags.landmarks && flags.face !== undefined), '--face picks among detected faces; it cannot be used with --landmarks');
  const bytes = readBytes(photo, 'photo');
  const landmarks = flags.landmarks ? parseLandmarks(new TextDecoder().decode(readBytes(flags.landmarks, 'landmarks file')), `landmarks file '${flags.landmarks}'`) : undefined;
  const r = await alignFace(bytes, {size: flags.size, what: `'${photo}'`, ...(landmarks ? {landmarks} : {}), ...(flags.face !== undefined ? {face: flags.face} : {})});
  writeFileAtomic(flags.out, await encodeRgbPng(r.image), 'aligned image');
  if (flags.json) console.log(JSON.stringify({out: flags.out, size: flags.size, face: r.face, faces: r.faces, landmarks: r.landmarks, quad: r.quad, qsize: r.qsize}));
  else console.log(`wrote ${flags.out} (${flags.size}×${flags.size}${r.faces.length > 1 ? `, face ${r.face} of ${r.faces.length}` : ''})`);
}
