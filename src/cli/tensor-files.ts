/** Writing the tensor files commands produce (latents, embeddings, raw images): .npy for one tensor, .safetensors for several. */
import path from 'node:path';
import {StyleclipError} from '../errors.js';
import {writeFileAtomic} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {serializeNpy} from '../io/npy.js';
import {serializeSafetensors} from '../io/safetensors.js';

/** Write one tensor as .npy, or several as .safetensors, chosen by the file extension. */
export function writeTensorFile(file: string, tensors: Map<string, HostTensor>, what: string): void {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') {
    if (tensors.size !== 1) throw new StyleclipError(`${what} '${file}': .npy holds one tensor; use .safetensors for ${tensors.size}`);
    writeFileAtomic(file, serializeNpy([...tensors.values()][0]!), what);
  } else if (ext === '.safetensors') {
    writeFileAtomic(file, serializeSafetensors(tensors), what);
  } else {
    throw new StyleclipError(`${what} '${file}' must end in .npy or .safetensors`);
  }
}
