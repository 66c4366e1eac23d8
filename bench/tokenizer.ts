/**
 * Tokenizer throughput (`deno task bench tokenize`): a split's texts read once (the Parquet read timed on its
 * own), then single-threaded passes, each with a fresh tokenizer.
 */
import { readImdbParquet } from "../data/imdb.ts";
import { BertTokenizer } from "../data/tokenizer.ts";

export interface BenchTexts {
  texts: string[];
  /** Reading and decoding the Parquet file. */
  readSeconds: number;
  chars: number;
}

export async function readBenchTexts(path: string): Promise<BenchTexts> {
  const started = performance.now();
  const { texts } = await readImdbParquet(path);
  const readSeconds = (performance.now() - started) / 1000;
  return { texts, readSeconds, chars: texts.reduce((n, t) => n + t.length, 0) };
}

export interface TokenizerPass {
  seconds: number;
  reviews_per_s: number;
  tokens_per_s: number;
  tokens: number;
}

/** One timed pass over `texts`. A fresh tokenizer, so the pass pays for filling the word cache, as a run does. */
export function tokenizerPass(vocabText: string, texts: string[], maxLength: number): TokenizerPass {
  const tokenizer = BertTokenizer.fromVocabText(vocabText);
  const started = performance.now();
  let tokens = 0;
  for (const text of texts) tokens += tokenizer.encode(text, { maxLength }).length;
  const seconds = (performance.now() - started) / 1000;
  return { seconds, reviews_per_s: texts.length / seconds, tokens_per_s: tokens / seconds, tokens };
}
