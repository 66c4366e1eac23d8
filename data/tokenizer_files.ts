/**
 * Tokenizer files on disk (Deno): a model directory's, a tokenizer.json or a vocab.txt, and the bundled
 * distilbert-base-uncased vocabulary. The formats themselves are data/tokenizer_formats.ts (also used in pages).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";
import { BertTokenizer } from "./tokenizer.ts";
import {
  fromTokenizerJson,
  type LoadedTokenizer,
  tokenizerFiles,
  tokenizerFromTexts,
} from "./tokenizer_formats.ts";

export {
  checkVocabSize,
  type LoadedTokenizer,
  TOKENIZER_FILES,
  tokenizerConfigJson,
  tokenizerFiles,
  tokenizerJson,
  vocabText,
} from "./tokenizer_formats.ts";

/** The distilbert-base-uncased `vocab.txt` shipped in `assets/`, so tokenizing works offline. */
export function bundledVocabPath(): string {
  return fileURLToPath(new URL("../assets/distilbert-base-uncased/vocab.txt", import.meta.url));
}

/**
 * A tokenizer from a model directory (tokenizer.json, else vocab.txt; tokenizer_config.json beside either),
 * a tokenizer.json file, or a vocab.txt file (read alone, with BERT uncased defaults).
 */
export async function loadTokenizer(path: string): Promise<LoadedTokenizer> {
  const info = await Deno.stat(path).catch((err) => {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: vocab file not found`);
    throw err;
  });
  if (info.isDirectory) return await loadTokenizerDir(path);
  const text = await Deno.readTextFile(path);
  if (path.endsWith(".json")) return fromTokenizerJson(text, path, {}, null);
  return { tokenizer: BertTokenizer.fromVocabText(text, path), vocabFile: path, notes: [] };
}

/** A model directory's tokenizer; a one-line error naming the directory when it has none. */
export async function loadTokenizerDir(dir: string): Promise<LoadedTokenizer> {
  const read = async (name: string) => {
    const path = join(dir, name);
    return (await exists(path)) ? await Deno.readTextFile(path) : null;
  };
  const texts = {
    tokenizerJson: await read("tokenizer.json"),
    tokenizerConfig: await read("tokenizer_config.json"),
    vocabTxt: null as string | null,
  };
  if (texts.tokenizerJson === null) texts.vocabTxt = await read("vocab.txt");
  return tokenizerFromTexts(texts, (name) => join(dir, name), dir);
}

/** Writes tokenizerFiles(tok) into `dir` (a directory being built: plain writes). */
export async function writeTokenizerFiles(dir: string, tok: BertTokenizer): Promise<void> {
  for (const [name, text] of tokenizerFiles(tok)) await Deno.writeTextFile(join(dir, name), text);
}
