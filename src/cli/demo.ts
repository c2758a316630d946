/** `styleclip demo …`: commands of the offline demo world. `demo classify` runs the evaluation classifier. */
import type {Command} from 'commander';
import {attributeNames} from '../demo/attributes.js';
import {type AttributeProbabilities, loadDemoClassifier, topValues} from '../demo/classifier.js';
import {readBytes} from '../io/files.js';
import {decodeImage} from '../io/image.js';

/** The `demo` command group; demo subcommands attach to the returned command. */
export function registerDemo(program: Command): Command {
  const demo = program.command('demo').description('the offline demo world: procedural faces and the small models trained on them');
  demo
    .command('classify')
    .description("predict every attribute of demo-world face images with the evaluation classifier (measures edits; no edit method uses it)")
    .argument('<images...>', 'PNG/JPEG/WebP images (any size; resized to the classifier input by area averaging)')
    .option('--classifier <file>', 'classifier safetensors (default: the shipped assets/demo/classifier.safetensors)')
    .option('--json', 'print JSON: one object per image, in order, {file, probabilities: {attribute: {value: probability}}}')
    .addHelpText(
      'after',
      `
Examples:
  styleclip demo classify face.png
  styleclip demo classify before.png after.png --json`,
    )
    .action(async (images: string[], flags: {classifier?: string; json?: boolean}) => {
      await runClassify(images, flags);
    });
  return demo;
}

/** Decode an image file to [1, 3, H, W] floats in [-1, 1] (x = byte / 127.5 − 1, as the renderer). */
async function readImage(file: string): Promise<{shape: number[]; data: Float32Array}> {
  const {data, width, height} = await decodeImage(readBytes(file, 'image'), `image '${file}'`);
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = data[p * 3 + c]! / 127.5 - 1;
  return {shape: [1, 3, height, width], data: out};
}

async function runClassify(files: string[], flags: {classifier?: string; json?: boolean}): Promise<void> {
  // Decode everything first so an unreadable file fails before any output.
  const images = await Promise.all(files.map(readImage));
  const classifier = loadDemoClassifier(flags.classifier);
  const results: AttributeProbabilities[] = [];
  for (const img of images) results.push((await classifier.classify({dtype: 'float32', ...img}))[0]!);
  if (flags.json) {
    console.log(JSON.stringify(results.map((probabilities, i) => ({file: files[i]!, probabilities}))));
    return;
  }
  const width = Math.max(...attributeNames.map((a) => a.length));
  results.forEach((r, i) => {
    const top = topValues(r);
    const lines = attributeNames.map((a) => `  ${a.padEnd(width)}  ${top[a].padEnd(10)} ${r[a][top[a]]!.toFixed(3)}`);
    console.log([files[i], ...lines].join('\n'));
  });
}
