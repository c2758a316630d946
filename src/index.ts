/** The public API of styleclip. */
export {StyleclipError} from './errors.js';

// Engine: symbolic tensors, ops, autodiff, compilation.
export * as F from './engine/ops.js';
export {Tensor, input, constant, scalar, assertShape, type DType, type Shape} from './engine/tensor.js';
export {grad, vjp} from './engine/autodiff.js';
export {compile, configureEngine, clearSessionCache, sessionsCreated, Program, type CompileOptions, type EngineOptions, type RunResult} from './engine/session.js';
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
export {loadGenerator, generatorFromBytes, requireClassChosen, type LoadGeneratorOptions} from './models/load-generator.js';
export {generatorFromNetworkPickle, sg2adaConfig, type Sg2AdaConfig} from './models/stylegan2-ada.js';
export {generate, sampleZ, toWPlus, type GenerateOptions, type GenerateResult, type LatentSpace} from './models/generate.js';
export {
  StyleShapeError,
  styleName,
  styleOffsets,
  locateChannel,
  layerChannels,
  checkStyles,
  flattenStyles,
  unflattenStyles,
  stylesFromTensors,
  stylesToTensors,
} from './models/stylespace.js';

// Weight and image I/O.
export {type HostTensor, type StateDict, toFloat32} from './io/host-tensor.js';
export {parseSafetensors, serializeSafetensors} from './io/safetensors.js';
export {loadTorch, extractStateDict, TORCH_LIMITS, type TorchLimits, loadNetworkPickle, persistentStateDict, PersistentRecord} from './io/torch.js';
export {parseNpy, serializeNpy} from './io/npy.js';
export {checkStateDict} from './io/state-dict.js';
export {loadWeights, loadLatent} from './io/weights.js';
export {readBytes, writeFileAtomic, loadWeightsFile, loadLatentFile} from './io/files.js';
export {encodePng, toRgbBytes, decodeImage} from './io/image.js';

// CLIP.
export {CLIP, type ClipConfig, parseClipConfig, inferClipConfig, expectedClipStateDict, eotSelector, normalize, VIT_B_32} from './models/clip/model.js';
export {loadClip, clipFromBytes, hfToOpenai, configFromHf} from './models/clip/load.js';
export {ClipTokenizer, loadTokenizer, loadDefaultTokenizer} from './models/clip/tokenizer.js';
export {encodeTexts, encodeImages, templateEmbedding, promptDirection, type TextTokenizer} from './models/clip/encode.js';
export {IMAGENET_TEMPLATES, STYLECLIP_TEMPLATES, fillTemplates, averageEmbedding, textDirection} from './models/clip/prompts.js';
export {CLIP_MEAN, CLIP_STD, styleclipResize, clipInputFromGenerated, preprocessImageFile, areaResizeMatrix, type ClipInputMode} from './models/clip/preprocess.js';

// Identity networks.
export {type IdentityNet} from './models/identity/types.js';
export {IRSE, loadIrse, irseFromBytes} from './models/identity/irse.js';
export {FaceRecognitionNet, loadFaceRecognitionNet} from './models/identity/face-api.js';

// The three StyleCLIP methods.
export {clipLoss, l2Loss, identityLoss, type IdentityFeatures} from './edit/losses.js';
export {optimizeLatent, rampdownLr, type OptimizeOptions, type OptimizeResult, type StepInfo} from './edit/optimize.js';
export {DEMO_OPTIMIZE_DEFAULTS, OPTIMIZE_DEFAULTS} from './edit/optimize-defaults.js';
export {SAMPLE_TRUNCATION} from './edit/truncation.js';
export {LevelsMapper, runMapper, mapperFromBytes, serializeMapper, type MapperConfig} from './models/mapper.js';
export {trainMapper, type MapperTrainOptions, type MapperTrainResult} from './edit/mapper-train.js';
export {MAPPER_DEFAULTS, DEMO_MAPPER_DEFAULTS} from './edit/mapper-defaults.js';
export {GLOBAL_DEFAULTS} from './edit/global-defaults.js';
export {computeSStats, computeChannelRelevance} from './edit/global-relevance.js';
export {
  parseRelevance,
  serializeRelevance,
  mergeRelevance,
  relevanceFromOfficial,
  parseSMeanStd,
  loadRelevance,
  loadOfficialRelevance,
  mergeRelevanceFiles,
  setEditDefaults,
  RelevanceMismatchError,
  type EditDefaults,
  type Relevance,
} from './edit/global-relevance-file.js';
export {editStyles, globalEdit, GlobalEditor, autoBeta, relevanceScores, editDefaultsOf} from './edit/global-edit.js';
export {prepareRelevance} from './edit/global-prepare.js';

// Training: optimizers with parameter groups, the step and loop, checkpoints.
export {Optimizer, SGD, Adam, AdamW, Ranger, type Param, type ParamGroup, type LearningRate, type OptimizerState} from './train/optim.js';
export {Params, RunInputs, compileStep, trainLoop, type StepGraph, type TrainStep, type StepReport, type TrainLoopOptions, type CheckpointPolicy} from './train/loop.js';
export {serializeCheckpoint, parseCheckpoint, writeTo, loadCheckpoint, restore, type Checkpoint} from './train/checkpoint.js';
// Real-image inversion: alignment, encoders, projection.
export {alignFace, parseLandmarks, type AlignFaceOptions, type AlignedFace, type AlignStage} from './align/align-face.js';
export {alignWithLandmarks, faceQuad, type RgbImage, type Point, type Quad, type AlignResult} from './align/ffhq-align.js';
export {FaceDetector, loadFaceDetector, type FaceBox, type DetectOptions} from './align/detect.js';
export {decodePhoto, encodeRgbPng} from './align/photo.js';
export {Encoder, ENCODER_TYPES, type EncoderConfig, type EncoderKind} from './models/encoder/e4e.js';
export {loadEncoder, encoderFromBytes, type LoadedEncoder, type LoadEncoderOptions} from './models/encoder/load.js';
export {invert, encode, encoderInput, checkEncoderFits, type InvertOptions, type InvertResult} from './edit/invert.js';
export {project, wStatistics, noiseRegularization, type ProjectOptions, type ProjectResult, type ProjectStep} from './edit/project.js';
export {PROJECT_DEFAULTS} from './edit/project-defaults.js';
