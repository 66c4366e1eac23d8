/**
 * Tokenizer files (their text: no file access here, so this also runs in a page) as Hugging Face transformers 5.x reads and writes them for a BERT model directory:
 * `tokenizer.json` (the `tokenizers` serialization: WordPiece vocabulary, added tokens), `tokenizer_config.json`
 * (do_lower_case, strip_accents, tokenize_chinese_chars, the special tokens, model_max_length) and, for older
 * readers, `vocab.txt`.
 *
 * What transformers does, and so what we do: a BERT tokenizer takes its vocabulary and added tokens from
 * tokenizer.json when the directory has one (else from vocab.txt), and rebuilds everything else from
 * tokenizer_config.json with BertTokenizer's defaults (clean text, lowercase, accents stripped when lowercasing,
 * CJK spacing, [CLS] ... [SEP], `##` pieces, 100 characters per word), even where tokenizer.json's normalizer
 * says otherwise; such a disagreement is reported as a note.
 */
import { UserError } from "../util/errors.ts";
import { type AddedToken, BertTokenizer, parseVocabText, type TokenizerOptions } from "./tokenizer.ts";

export const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt"] as const;

export interface LoadedTokenizer {
  tokenizer: BertTokenizer;
  /** The file that gave the vocabulary (tokenizer.json or vocab.txt): errors about it name this. */
  vocabFile: string;
  /** Things a user should know (e.g. tokenizer.json's normalizer overridden, as transformers does). */
  notes: string[];
}

/** tokenizer_config.json keys that describe one load, not the tokenizer: not written back. */
const TRANSIENT_CONFIG_KEYS = new Set([
  "is_local",
  "local_files_only",
  "name_or_path",
  "added_tokens_decoder",
  "tokenizer_file",
  "special_tokens_map_file",
  "vocab_file",
]);
/** Keys tokenizerConfigJson writes itself. */
const OWN_CONFIG_KEYS = new Set([
  "backend",
  "cls_token",
  "do_lower_case",
  "mask_token",
  "model_max_length",
  "pad_token",
  "sep_token",
  "strip_accents",
  "tokenize_chinese_chars",
  "tokenizer_class",
  "unk_token",
]);

/** A JSON object from `text`; a one-line error naming `path` when it is not one. */
export function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message.replace(/\s+/g, " ")})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UserError(`${path}: not a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** A model directory's tokenizer files as text (null where absent); `name` gives each file's name for errors. */
export interface TokenizerTexts {
  tokenizerJson: string | null;
  tokenizerConfig: string | null;
  vocabTxt: string | null;
}

/**
 * A model directory's tokenizer from its files' text, as transformers reads it: tokenizer.json when present,
 * else vocab.txt, with tokenizer_config.json beside either. `name(file)` names a file in errors (a path, a
 * URL). The same rules whether the files came from disk, `fetch` or a picked folder.
 */
export function tokenizerFromTexts(
  texts: TokenizerTexts,
  name: (file: string) => string,
  dirForErrors: string,
): LoadedTokenizer {
  const configPath = name("tokenizer_config.json");
  const config = texts.tokenizerConfig !== null ? parseJsonObject(texts.tokenizerConfig, configPath) : {};
  if (texts.tokenizerJson !== null) {
    return fromTokenizerJson(texts.tokenizerJson, name("tokenizer.json"), config, configPath);
  }
  if (texts.vocabTxt !== null) {
    const vocabPath = name("vocab.txt");
    const tokens = parseVocabText(texts.vocabTxt);
    const opts = optionsFromConfig(config, configPath, new Map(tokens.map((t, i) => [t, i])));
    return { tokenizer: new BertTokenizer(tokens, vocabPath, opts), vocabFile: vocabPath, notes: [] };
  }
  throw new UserError(
    `${dirForErrors}: no tokenizer (neither tokenizer.json nor vocab.txt); a model directory carries the tokenizer it ` +
      "was trained with: copy those files from the model it came from",
  );
}

/** A special token as tokenizer_config.json holds it: a string, or {"content": ...} (AddedToken). */
function tokenName(value: unknown, key: string, path: string): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  throw new UserError(`${path}: "${key}" must be a token string, got ${JSON.stringify(value)}`);
}

/** BertTokenizer's options from tokenizer_config.json (transformers' defaults where a key is absent). */
function optionsFromConfig(
  config: Record<string, unknown>,
  path: string,
  vocab: Map<string, number>,
  jsonAddedTokens: AddedToken[] = [],
): TokenizerOptions {
  const bool = (key: string, fallback: boolean | null): boolean | null => {
    const v = config[key];
    if (v === undefined) return fallback;
    if (typeof v === "boolean" || (v === null && fallback === null)) return v;
    throw new UserError(
      `${path}: "${key}" must be ${fallback === null ? "true, false or null" : "true or false"}`,
    );
  };
  const special = (key: string, fallback: string) => tokenName(config[key], key, path) ?? fallback;
  const mml = config.model_max_length;
  if (mml !== undefined && mml !== null && !(typeof mml === "number" && mml >= 1)) {
    throw new UserError(`${path}: "model_max_length" must be a positive number, got ${JSON.stringify(mml)}`);
  }
  const extraConfig: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (!TRANSIENT_CONFIG_KEYS.has(k) && !OWN_CONFIG_KEYS.has(k)) extraConfig[k] = v;
  }
  const names = {
    unkToken: special("unk_token", "[UNK]"),
    clsToken: special("cls_token", "[CLS]"),
    sepToken: special("sep_token", "[SEP]"),
    padToken: special("pad_token", "[PAD]"),
    maskToken: tokenName(config.mask_token, "mask_token", path) === null
      ? null
      : special("mask_token", "[MASK]"),
  };
  // Added tokens: tokenizer.json's, then tokenizer_config.json's added_tokens_decoder (4.x), then the special
  // tokens themselves, as transformers registers them (special, matched in the raw text).
  const added = new Map<number, AddedToken>();
  for (const t of jsonAddedTokens) added.set(t.id, t);
  const decoder = config.added_tokens_decoder;
  if (decoder !== undefined && decoder !== null) {
    if (typeof decoder !== "object" || Array.isArray(decoder)) {
      throw new UserError(`${path}: "added_tokens_decoder" must be an object`);
    }
    for (const [id, t] of Object.entries(decoder as Record<string, unknown>)) {
      if (!added.has(Number(id))) {
        added.set(Number(id), parseAddedToken({ ...(t as object), id: Number(id) }, path));
      }
    }
  }
  const known = new Set([...added.values()].map((t) => t.content));
  for (const name of [names.padToken, names.unkToken, names.clsToken, names.sepToken, names.maskToken]) {
    if (name === null || known.has(name) || !vocab.has(name)) continue;
    known.add(name);
    const id = vocab.get(name)!;
    added.set(id, {
      id,
      content: name,
      special: true,
      normalized: false,
      singleWord: false,
      lstrip: false,
      rstrip: false,
    });
  }
  return {
    ...names,
    normalizer: {
      cleanText: true,
      lowercase: bool("do_lower_case", true)!,
      stripAccents: bool("strip_accents", null),
      handleChineseChars: bool("tokenize_chinese_chars", true)!,
    },
    addedTokens: [...added.values()].sort((a, b) => a.id - b.id),
    modelMaxLength: typeof mml === "number" ? mml : null,
    extraConfig,
  };
}

function parseAddedToken(raw: unknown, path: string): AddedToken {
  const t = raw as Record<string, unknown>;
  const flag = (k: string, fallback: boolean) => {
    if (t[k] === undefined) return fallback;
    if (typeof t[k] !== "boolean") throw new UserError(`${path}: added token "${k}" must be true or false`);
    return t[k] as boolean;
  };
  if (typeof t?.content !== "string" || !Number.isSafeInteger(t.id) || (t.id as number) < 0) {
    throw new UserError(
      `${path}: an added token needs "id" (a non-negative integer) and "content" (a string)`,
    );
  }
  const special = flag("special", false);
  return {
    id: t.id as number,
    content: t.content,
    special,
    normalized: flag("normalized", !special),
    singleWord: flag("single_word", false),
    lstrip: flag("lstrip", false),
    rstrip: flag("rstrip", false),
  };
}

/** A tokenizer.json (with its directory's tokenizer_config.json, if any) as transformers' BertTokenizer reads it. */
export function fromTokenizerJson(
  text: string,
  path: string,
  config: Record<string, unknown>,
  configPath: string | null,
): LoadedTokenizer {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message.replace(/\s+/g, " ")})`);
  }
  const model = json?.model as Record<string, unknown> | undefined;
  if (typeof model !== "object" || model === null) throw new UserError(`${path}: no "model" object`);
  if (model.type !== "WordPiece") {
    throw new UserError(
      `${path}: model type ${JSON.stringify(model.type)} is not supported (only WordPiece)`,
    );
  }
  const vocabObject = model.vocab as Record<string, unknown>;
  if (typeof vocabObject !== "object" || vocabObject === null || Array.isArray(vocabObject)) {
    throw new UserError(`${path}: "model.vocab" must be an object of token → id`);
  }
  const entries = Object.entries(vocabObject);
  const tokens = new Array<string>(entries.length);
  for (const [token, id] of entries) {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= entries.length) {
      throw new UserError(
        `${path}: token ${JSON.stringify(token)} has id ${id}; ids must run 0..${entries.length - 1}`,
      );
    }
    if (tokens[id as number] !== undefined) throw new UserError(`${path}: two tokens have id ${id}`);
    tokens[id as number] = token;
  }
  const addedRaw = json.added_tokens ?? [];
  if (!Array.isArray(addedRaw)) throw new UserError(`${path}: "added_tokens" must be a list`);
  const jsonAdded = addedRaw.map((t) => parseAddedToken(t, path));
  const opts = optionsFromConfig(
    config,
    configPath ?? path,
    new Map(tokens.map((t, i) => [t, i])),
    jsonAdded,
  );

  // transformers rebuilds the normalizer and WordPiece settings from tokenizer_config.json: note where
  // tokenizer.json said something else.
  const notes: string[] = [];
  const normalizer = json.normalizer as Record<string, unknown> | null | undefined;
  const used = opts.normalizer!;
  const expected: Record<string, unknown> = {
    type: "BertNormalizer",
    clean_text: true,
    handle_chinese_chars: used.handleChineseChars,
    strip_accents: used.stripAccents,
    lowercase: used.lowercase,
  };
  const differs = Object.entries(expected).filter(([k, v]) => normalizer?.[k] !== v).map(([k]) => k);
  if (model.continuing_subword_prefix !== undefined && model.continuing_subword_prefix !== "##") {
    differs.push("continuing_subword_prefix");
  }
  if (model.max_input_chars_per_word !== undefined && model.max_input_chars_per_word !== 100) {
    differs.push("max_input_chars_per_word");
  }
  if (differs.length) {
    notes.push(
      `${path}: ${differs.join(", ")} differ from ${configPath ?? "BertTokenizer's defaults"}; ` +
        "using the latter, as transformers' BertTokenizer does",
    );
  }
  return { tokenizer: new BertTokenizer(tokens, path, opts), vocabFile: path, notes };
}

// ---- writing ----

const addedTokenJson = (t: AddedToken) => ({
  id: t.id,
  content: t.content,
  single_word: t.singleWord,
  lstrip: t.lstrip,
  rstrip: t.rstrip,
  normalized: t.normalized,
  special: t.special,
});

/** tokenizer.json exactly as transformers 5.x's BertTokenizer saves it (same keys, order and layout). */
export function tokenizerJson(tok: BertTokenizer): string {
  const special = (token: string) => ({ SpecialToken: { id: token, type_id: 0 } });
  // The vocabulary in id order, written by hand: a JavaScript object would put keys like "0" first.
  // A duplicated token keeps its last id (HF's vocab loading), so its earlier lines have no entry.
  const entries: string[] = [];
  tok.vocabTokens.forEach((t, i) => {
    if (tok.vocab.get(t) === i) entries.push(`      ${JSON.stringify(t)}: ${i}`);
  });
  const placeholder = "\u0000vocab\u0000";
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: tok.addedTokens.map(addedTokenJson),
    normalizer: {
      type: "BertNormalizer",
      clean_text: tok.normalizer.cleanText,
      handle_chinese_chars: tok.normalizer.handleChineseChars,
      strip_accents: tok.normalizer.stripAccents,
      lowercase: tok.normalizer.lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special(tok.clsToken), { Sequence: { id: "A", type_id: 0 } }, special(tok.sepToken)],
      pair: [
        special(tok.clsToken),
        { Sequence: { id: "A", type_id: 0 } },
        special(tok.sepToken),
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: tok.sepToken, type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(
        [[tok.clsToken, tok.clsId], [tok.sepToken, tok.sepId]].map((
          [t, id],
        ) => [t, { id: t, ids: [id], tokens: [t] }]),
      ),
    },
    decoder: { type: "WordPiece", prefix: tok.continuingSubwordPrefix, cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: tok.unkToken,
      continuing_subword_prefix: tok.continuingSubwordPrefix,
      max_input_chars_per_word: tok.maxInputCharsPerWord,
      vocab: placeholder,
    },
  };
  const vocabJson = entries.length ? `{\n${entries.join(",\n")}\n    }` : "{}";
  return JSON.stringify(json, null, 2).replace(JSON.stringify(placeholder), () => vocabJson);
}

/** tokenizer_config.json as transformers 5.x writes it (sorted keys), with the source's other fields kept. */
export function tokenizerConfigJson(tok: BertTokenizer): string {
  const config: Record<string, unknown> = {
    ...tok.extraConfig,
    backend: "tokenizers",
    cls_token: tok.clsToken,
    do_lower_case: tok.normalizer.lowercase,
    mask_token: tok.maskToken,
    pad_token: tok.padToken,
    sep_token: tok.sepToken,
    strip_accents: tok.normalizer.stripAccents,
    tokenize_chinese_chars: tok.normalizer.handleChineseChars,
    tokenizer_class: "BertTokenizer",
    unk_token: tok.unkToken,
  };
  if (tok.modelMaxLength !== null) config.model_max_length = tok.modelMaxLength;
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted, null, 2) + "\n";
}

/** vocab.txt: the WordPiece vocabulary, one token per line in id order. */
export function vocabText(tok: BertTokenizer): string {
  return tok.vocabTokens.map((t) => t + "\n").join("");
}

/** The three files a model directory carries for its tokenizer, by name. */
export function tokenizerFiles(tok: BertTokenizer): Map<string, string> {
  return new Map([
    ["tokenizer.json", tokenizerJson(tok)],
    ["tokenizer_config.json", tokenizerConfigJson(tok)],
    ["vocab.txt", vocabText(tok)],
  ]);
}

/**
 * The tokenizer and the model must agree on the vocabulary size: an id past the embedding table would read
 * out of bounds on the GPU (garbage, not an error), and a smaller vocabulary means another tokenizer.
 */
export function checkVocabSize(
  loaded: LoadedTokenizer,
  config: { vocab_size: number },
  configSource: string,
): void {
  const n = loaded.tokenizer.vocabSize;
  if (n !== config.vocab_size) {
    throw new UserError(
      `${loaded.vocabFile}: ${n.toLocaleString("en-US")} tokens, but ${configSource} has vocab_size ${
        config.vocab_size.toLocaleString("en-US")
      } (the tokenizer does not belong to this model)`,
    );
  }
}
