/** The public API of styleclip. */
export {StyleclipError} from './errors.js';

// Engine: symbolic tensors, ops, autodiff, compilation.
export * as F from './engine/ops.js';
export {Tensor, input, constant, scalar, assertShape, type DType, type Shape} from './engine/tensor.js';
export {grad, vjp} from './engine/autodiff.js';
export {compile, configureEngine, clearSessionCache, Program, type EngineOptions, type RunResult} from './engine/session.js';
export {toOnnx} from './engine/onnx.js';

// Layers.
export {equalLinear, fusedLeakyRelu, pixelNorm} from './nn/layers.js';
export {modulatedConv2d, modulatedConv2dRef, upfirdn2d, upfirdn2dRef, makeKernel} from './nn/conv.js';
export {layerNorm, quickGelu, gelu, upsampleNearest, avgPool2d, adaptiveAvgPool2d} from './nn/functional.js';

// Models.
export {
  StyleGAN2,
  type StyleGAN2Config,
  type StyleLayer,
  type NoiseMode,
  inferConfig,
  expectedStateDict,
  styleLayers,
  standardConfig,
  randomStateDict,
} from './models/stylegan2.js';
export {loadGenerator, generatorFromBytes} from './models/load-generator.js';
export {generate, sampleZ, toWPlus, stylesFromTensors, stylesToTensors, type GenerateOptions, type GenerateResult, type LatentSpace} from './generate.js';

// Weight and image I/O.
export {type HostTensor, type StateDict, toFloat32} from './io/host-tensor.js';
export {parseSafetensors, serializeSafetensors} from './io/safetensors.js';
export {loadTorch, extractStateDict} from './io/torch.js';
export {parseNpy, serializeNpy} from './io/npy.js';
export {checkStateDict} from './io/state-dict.js';
export {loadWeights, loadLatent} from './io/weights.js';
export {readBytes, writeFileAtomic, loadWeightsFile, loadLatentFile} from './io/files.js';
export {encodePng, toRgbBytes, decodeImage} from './io/image.js';
