/**
 * BERT WordPiece tokenizer, matching Hugging Face's `BertTokenizerFast` (the `tokenizers` library) id for id:
 * added tokens ([CLS], [SEP], ... and any others) matched in the raw text, BertNormalizer (clean text, CJK
 * spacing, strip accents, lowercase; each optional, as in tokenizer.json), BertPreTokenizer (whitespace and
 * punctuation), WordPiece with a continuation prefix and a per-word character limit, then `[CLS] ... [SEP]`.
 * Character rules, code point by code point, are `tokenizers`' own (data/bert_unicode.ts).
 *
 * Speed: text is cut into whitespace-delimited chunks by char code, and each distinct chunk is normalised and
 * split once; its ids are cached, so the common case per chunk is one slice and one Map lookup.
 */
import { UserError } from "../util/errors.ts";
import { BERT_CHAR_RULES, isChineseChar } from "./bert_unicode.ts";
import { ChunkCache } from "./chunk_cache.ts";
import { type Batch, padBatch } from "./token_batch.ts";
import { isPlainAscii, isWhitespace, isWholeWord } from "./tokenizer_chars.ts";
import { WordPiece } from "./wordpiece.ts";

export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

const rules = BERT_CHAR_RULES;

/** BertNormalizer's options, with tokenizer.json's meaning; the defaults are bert-base-uncased's. */
export interface NormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  /** null: strip accents when lowercasing (HF's default). */
  stripAccents: boolean | null;
  lowercase: boolean;
}

export const UNCASED_NORMALIZER: Readonly<NormalizerOptions> = {
  cleanText: true,
  handleChineseChars: true,
  stripAccents: null,
  lowercase: true,
};

/** A token matched in the text before WordPiece (tokenizer.json's added_tokens). */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  /** Matched in the normalized text (content normalized too) instead of the raw text. */
  normalized: boolean;
  /** Only where neither neighbour is a letter, digit or `_`. */
  singleWord: boolean;
  /** Absorb whitespace on that side (no effect on ids: BERT drops whitespace anyway). */
  lstrip: boolean;
  rstrip: boolean;
}

export interface TokenizerOptions {
  normalizer?: Partial<NormalizerOptions>;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  /** null: the tokenizer has no mask token. */
  maskToken?: string | null;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
  /** Default: the special tokens found in the vocab, as HF adds them (special, not normalized). */
  addedTokens?: AddedToken[];
  /** tokenizer_config.json's model_max_length (null: not set). */
  modelMaxLength?: number | null;
  /** Other tokenizer_config.json fields, written back unchanged. */
  extraConfig?: Record<string, unknown>;
}

export interface EncodeOptions {
  /** Total length including `[CLS]` and `[SEP]` (default 512). Longer texts keep their first maxLength-2 pieces. */
  maxLength?: number;
  /** Add `[CLS]` and `[SEP]` (default true). */
  addSpecialTokens?: boolean;
}

export interface BatchOptions extends EncodeOptions {
  /** "longest" pads to the longest sequence in the batch (default); a number pads every row to that length. */
  padTo?: "longest" | number;
}

export interface DecodeOptions {
  /** Drop `[CLS]`, `[SEP]`, `[PAD]`, ... (default true). */
  skipSpecialTokens?: boolean;
  /** Hugging Face's clean_up_tokenization_spaces: " ." → "." etc. (default true, as for BERT). */
  cleanUpSpaces?: boolean;
}

export class BertTokenizer {
  /** WordPiece vocabulary: token → id. */
  readonly vocab: Map<string, number>;
  /** id → token, added tokens beyond the WordPiece vocabulary included. */
  readonly idToToken: string[];
  /** The WordPiece vocabulary in id order (what vocab.txt holds). */
  readonly vocabTokens: readonly string[];
  readonly normalizer: Readonly<NormalizerOptions>;
  readonly addedTokens: readonly AddedToken[];
  readonly unkToken: string;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly padToken: string;
  readonly maskToken: string | null;
  readonly continuingSubwordPrefix: string;
  readonly maxInputCharsPerWord: number;
  readonly modelMaxLength: number | null;
  readonly extraConfig: Readonly<Record<string, unknown>>;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly specialIds: ReadonlySet<number>;
  /** Added tokens matched in the raw text, and those matched in the normalized text. */
  private readonly rawTokens: AddedToken[];
  private readonly normalizedTokens: { token: AddedToken; content: string }[];
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  private readonly wordPiece: WordPiece;
  private chunkCache = new ChunkCache();

  /**
   * `tokens` is the WordPiece vocabulary, id = index. Later duplicates win, as in Hugging Face's vocab loading.
   * `source` names the file in errors.
   */
  constructor(tokens: string[], source = "vocab", opts: TokenizerOptions = {}) {
    this.vocabTokens = tokens;
    this.vocab = new Map();
    for (let i = 0; i < tokens.length; i++) this.vocab.set(tokens[i], i);
    this.normalizer = { ...UNCASED_NORMALIZER, ...opts.normalizer };
    this.lowercase = this.normalizer.lowercase;
    this.stripAccents = this.normalizer.stripAccents ?? this.normalizer.lowercase;
    this.unkToken = opts.unkToken ?? "[UNK]";
    this.clsToken = opts.clsToken ?? "[CLS]";
    this.sepToken = opts.sepToken ?? "[SEP]";
    this.padToken = opts.padToken ?? "[PAD]";
    this.maskToken = opts.maskToken === undefined ? "[MASK]" : opts.maskToken;
    this.continuingSubwordPrefix = opts.continuingSubwordPrefix ?? "##";
    this.maxInputCharsPerWord = opts.maxInputCharsPerWord ?? 100;
    this.modelMaxLength = opts.modelMaxLength ?? null;
    this.extraConfig = opts.extraConfig ?? {};

    const named = [this.padToken, this.unkToken, this.clsToken, this.sepToken, this.maskToken];
    this.addedTokens = opts.addedTokens ?? named.filter((t): t is string => t !== null && this.vocab.has(t))
      .map((content) => ({
        id: this.vocab.get(content)!,
        content,
        special: true,
        normalized: false,
        singleWord: false,
        lstrip: false,
        rstrip: false,
      })).sort((a, b) => a.id - b.id);
    this.idToToken = [...tokens];
    const idOf = new Map<string, number>();
    for (const t of this.addedTokens) {
      if (t.id >= this.idToToken.length) this.idToToken.length = t.id + 1;
      if (t.id >= tokens.length || this.idToToken[t.id] === undefined) this.idToToken[t.id] = t.content;
      idOf.set(t.content, t.id);
    }
    const holes = this.idToToken.findIndex((t) => t === undefined);
    if (holes >= 0) {
      throw new UserError(
        `${source}: no token has id ${holes} (ids must run 0..${this.idToToken.length - 1})`,
      );
    }
    const idFor = (t: string) => idOf.get(t) ?? this.vocab.get(t);
    const missing = [
      ["[UNK]", this.unkToken],
      ["[CLS]", this.clsToken],
      ["[SEP]", this.sepToken],
      ["[PAD]", this.padToken],
    ].filter(([, t]) => idFor(t) === undefined).map(([role, t]) => (role === t ? t : `${t} (${role})`));
    if (missing.length > 0) {
      throw new UserError(`${source}: not a BERT vocab: missing ${missing.join(", ")}`);
    }
    this.padId = idFor(this.padToken)!;
    this.unkId = idFor(this.unkToken)!;
    this.clsId = idFor(this.clsToken)!;
    this.sepId = idFor(this.sepToken)!;
    this.wordPiece = new WordPiece(
      this.vocab,
      this.unkId,
      this.continuingSubwordPrefix,
      this.maxInputCharsPerWord,
    );
    this.specialIds = new Set(this.addedTokens.filter((t) => t.special).map((t) => t.id));
    this.rawTokens = this.addedTokens.filter((t) => !t.normalized && t.content.length > 0);
    this.normalizedTokens = this.addedTokens.filter((t) => t.normalized).map((token) => ({
      token,
      content: this.normalizeText(token.content),
    })).filter((t) => t.content.length > 0);
  }

  /** Parses `vocab.txt` text: one token per line, id = line number from 0. */
  static fromVocabText(text: string, source = "vocab", opts: TokenizerOptions = {}): BertTokenizer {
    return new BertTokenizer(parseVocabText(text), source, opts);
  }

  /** Hugging Face's `len(tokenizer)`: the vocabulary plus added tokens beyond it. */
  get vocabSize(): number {
    return this.idToToken.length;
  }

  /** Word pieces of `text` (no `[CLS]`/`[SEP]`), e.g. for showing people what the model sees. */
  tokenize(text: string): string[] {
    const ids: number[] = [];
    this.appendIds(text, ids, Infinity);
    return ids.map((id) => this.idToToken[id]);
  }

  /** Ids of `text`: `[CLS] pieces [SEP]`, truncated to maxLength. */
  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    const maxLength = opts.maxLength ?? 512;
    const special = opts.addSpecialTokens ?? true;
    if (special && maxLength < 2) throw new RangeError(`maxLength must be at least 2, got ${maxLength}`);
    const ids: number[] = special ? [this.clsId] : [];
    this.appendIds(text, ids, special ? maxLength - 1 : maxLength);
    if (special) ids.push(this.sepId);
    return Int32Array.from(ids);
  }

  encodeBatch(texts: readonly string[], opts: BatchOptions = {}): Batch {
    return padBatch(texts.map((t) => this.encode(t, opts)), { padId: this.padId, padTo: opts.padTo });
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? true;
    const prefix = this.continuingSubwordPrefix;
    let out = "";
    let first = true;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIds.has(id)) continue;
      const token = this.idToToken[id] ?? this.unkToken;
      if (first) out += token;
      else if (token.startsWith(prefix)) out += token.slice(prefix.length);
      else out += " " + token;
      first = false;
    }
    return (opts.cleanUpSpaces ?? true) ? cleanUpTokenization(out) : out;
  }

  /** BertNormalizer on a whole text: clean-up, spaces around CJK ideographs, strip accents, lowercase. */
  normalizeText(text: string): string {
    let cleaned = "";
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (this.normalizer.cleanText) {
        if (rules.isRemoved(cp)) continue;
        if (rules.isWhitespace(cp)) {
          cleaned += " ";
          continue;
        }
      }
      cleaned += this.normalizer.handleChineseChars && isChineseChar(cp) ? ` ${ch} ` : ch;
    }
    return this.normalizePart(cleaned);
  }

  /** Strip accents, then lowercase (BertNormalizer's order), as configured. */
  private normalizePart(s: string): string {
    if (this.stripAccents) s = rules.stripAccents(s);
    return this.lowercase ? rules.lowercase(s) : s;
  }

  /** Appends the ids of `text` to `out` until `out.length` reaches `limit`. */
  private appendIds(text: string, out: number[], limit: number): void {
    let pos = 0;
    while (pos < text.length && out.length < limit) {
      const match = this.rawTokens.length ? this.findRawToken(text, pos) : null;
      const end = match ? match.at : text.length;
      if (this.normalizedTokens.length) this.appendNormalizedSegment(text.slice(pos, end), out, limit);
      else this.appendSegment(text, pos, end, out, limit);
      if (!match) return;
      if (out.length < limit) out.push(match.token.id);
      pos = match.at + match.token.content.length;
    }
  }

  /** The leftmost (then longest) raw added token at or after `pos`, as `tokenizers`' matcher finds it. */
  private findRawToken(text: string, pos: number): { at: number; token: AddedToken } | null {
    let at = -1, best: AddedToken | null = null;
    for (const t of this.rawTokens) {
      let i = text.indexOf(t.content, pos);
      while (i >= 0 && t.singleWord && !isWholeWord(text, i, i + t.content.length)) {
        i = text.indexOf(t.content, i + 1);
      }
      if (i < 0) continue;
      if (best === null || i < at || (i === at && t.content.length > best.content.length)) {
        [at, best] = [i, t];
      }
    }
    return best ? { at, token: best } : null;
  }

  /**
   * A segment when some added tokens match in normalized text: normalize it whole, split at those tokens,
   * pre-tokenize and WordPiece the rest (the general path; the chunk cache below is its fast form).
   */
  private appendNormalizedSegment(segment: string, out: number[], limit: number): void {
    const normalized = this.normalizeText(segment);
    let pos = 0;
    while (pos < normalized.length && out.length < limit) {
      let at = -1, best: AddedToken | null = null, length = 0;
      for (const { token, content } of this.normalizedTokens) {
        let from = pos;
        for (;;) {
          const i = normalized.indexOf(content, from);
          if (i < 0 || (at >= 0 && i > at)) break;
          if (!token.singleWord || isWholeWord(normalized, i, i + content.length)) {
            if (at < 0 || i < at || content.length > length) [at, best, length] = [i, token, content.length];
            break;
          }
          from = i + 1;
        }
      }
      const end = best ? at : normalized.length;
      const ids: number[] = [];
      for (const word of normalized.slice(pos, end).split(/\p{White_Space}+/u)) {
        if (word) this.wordPiece.appendWords(word, ids);
      }
      for (let k = 0; k < ids.length && out.length < limit; k++) out.push(ids[k]);
      if (!best) return;
      if (out.length < limit) out.push(best.id);
      pos = at + length;
    }
  }

  private appendSegment(text: string, start: number, end: number, out: number[], limit: number): void {
    const cache = this.chunkCache;
    const keepControls = !this.normalizer.cleanText;
    let i = start;
    while (i < end && out.length < limit) {
      let c = text.charCodeAt(i);
      if (isWhitespace(c, keepControls)) {
        i++;
        continue;
      }
      // FNV-1a over the chunk's code units while finding its end, so a cache hit needs no slice.
      let hash = Math.imul(0x811c9dc5 ^ c, 0x01000193);
      let j = i + 1;
      while (j < end) {
        c = text.charCodeAt(j);
        if (isWhitespace(c, keepControls)) break;
        hash = Math.imul(hash ^ c, 0x01000193);
        j++;
      }
      let ids = cache.get(text, i, j, hash);
      if (ids === undefined) {
        const chunk = text.slice(i, j);
        ids = this.chunkIds(chunk);
        cache.set(chunk, hash, ids);
      }
      const n = Math.min(ids.length, limit - out.length);
      for (let k = 0; k < n; k++) out.push(ids[k]);
      i = j;
    }
  }

  /** Ids of one whitespace-free chunk of raw text. */
  private chunkIds(chunk: string): number[] {
    const out: number[] = [];
    if (isPlainAscii(chunk)) {
      this.wordPiece.appendWords(this.lowercase ? chunk.toLowerCase() : chunk, out);
      return out;
    }
    // Clean-up and CJK spacing act on the raw text; CJK ideographs become words of their own.
    const { cleanText, handleChineseChars } = this.normalizer;
    let part = "";
    for (const ch of chunk) {
      const cp = ch.codePointAt(0)!;
      if (cleanText && rules.isRemoved(cp)) continue;
      if (handleChineseChars && isChineseChar(cp)) {
        if (part) this.wordPiece.appendWords(this.normalizePart(part), out);
        part = "";
        this.wordPiece.appendWords(this.normalizePart(ch), out);
      } else {
        part += ch;
      }
    }
    if (part) this.wordPiece.appendWords(this.normalizePart(part), out);
    return out;
  }
}

/** vocab.txt's tokens: one per line (a trailing \r dropped), id = line number from 0. */
export function parseVocabText(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** Hugging Face's clean_up_tokenization: no space before . ? ! , and English contractions. */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
