/**
 * distilbert-webgpu: fine-tune DistilBERT for sentiment (IMDB, or your own data with any number of labels) on WebGPU, with our own tensors, autograd and
 * WGSL kernels. This module is the public API; `tasks/` are thin command-line wrappers around it.
 */
export * from "./autograd/mod.ts";
export { type Batch, DistilBertClassifier } from "./model/distilbert.ts";
export * from "./model/config.ts";
export { readConfigFile } from "./model/config_file.ts";
export * from "./model/params.ts";
export * from "./model/safetensors.ts";
export * from "./model/checkpoint.ts";
export { BertTokenizer } from "./data/tokenizer.ts";
export { loadTokenizedSplit } from "./data/token_cache.ts";
export { readImdbParquet } from "./data/imdb.ts";
export { type DataFormat, type Dataset, readDataset } from "./data/dataset.ts";
export { labelIds, type LabelSpace, resolveLabelSpace } from "./data/labels.ts";
export { parseDelimited } from "./data/csv.ts";
export { resolveImdbSplit, resolveImdbSplitOrSample } from "./data/imdb_source.ts";
export { hubFile } from "./data/hub/client.ts";
export {
  EVAL_DEFAULTS,
  type EvalConfig,
  FALLBACK_MAX_LENGTH,
  type GivenSettings,
  INFERENCE_DEFAULTS,
  type InferenceConfig,
  PRETRAINED_DEFAULTS,
  SCRATCH_DEFAULTS,
  type TrainConfig,
} from "./train/config.ts";
export { parseTrainArgs, trainHelp } from "./train/train_flags.ts";
export { runTrainJob } from "./train/job.ts";
export { Trainer } from "./train/trainer.ts";
export { evaluate, predictRows } from "./train/evaluate.ts";
export { AdamW } from "./train/optimizer.ts";
export { classificationMetrics } from "./train/metrics.ts";
export { adapterInfo } from "./autograd/info.ts";
export { modelInfo } from "./train/model_source.ts";
export { evalJob, exportJob, predictJob, readTextInputs } from "./train/inference.ts";
export { EXPORT_MANIFEST } from "./train/export_dir.ts";
