/** The flags `deno task eval` and `deno task predict` share: InferenceConfig's settings. */
import { FALLBACK_MAX_LENGTH, INFERENCE_DEFAULTS } from "./config.ts";

/** `--max-length` and `--batch-size`, their help speaking of `noun`s (reviews, inputs). */
export function inferenceFlags(noun: string) {
  return {
    "max-length": {
      kind: "int",
      metavar: "N",
      min: 2,
      help: `tokens per ${noun} [default: the model's training max_length, else ${FALLBACK_MAX_LENGTH}]`,
    },
    "batch-size": {
      kind: "int",
      metavar: "N",
      positive: true,
      help: `${noun}s per batch [default: ${INFERENCE_DEFAULTS.batchSize}]`,
    },
  } as const;
}
