/** Shared set-up of the ToonCLIP training tests: the tokenizer with the compact training vocabulary, and a tiny config. */
import {trainingVocabulary} from '../../demo/train-clip.js';
import type {ClipConfig} from '../../../src/models/clip/model.js';
import {type ClipTokenizer, loadDefaultTokenizer} from '../../../src/models/clip/tokenizer.js';

/** The default tokenizer, the training vocabulary's token ids and their id → compact row map. */
export function trainingTokens(): {tok: ClipTokenizer; vocab: Int32Array; compact: Map<number, number>} {
  const tok = loadDefaultTokenizer();
  const vocab = trainingVocabulary(tok);
  return {tok, vocab, compact: new Map([...vocab].map((id, r) => [id, r]))};
}

/** A ToonCLIP-shaped model small enough to compile and train a step in a test. */
export const TINY_TOONCLIP: ClipConfig = {
  embedDim: 16, imageResolution: 16, visionLayers: 1, visionWidth: 64, visionPatchSize: 8, visionHeads: 1,
  contextLength: 77, vocabSize: 49408, transformerWidth: 64, transformerHeads: 1, transformerLayers: 1,
};
