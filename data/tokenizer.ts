/**
 * BERT uncased WordPiece tokenizer, matching Hugging Face's `BertTokenizerFast(do_lower_case=True)` id for id:
 * BertNormalizer (clean text, CJK spacing, lowercase, strip accents), BertPreTokenizer (whitespace and
 * punctuation), WordPiece with `##` continuation and a 100-character word limit, then `[CLS] ... [SEP]`.
 *
 * Speed: text is cut into whitespace-delimited chunks by char code, and each distinct chunk is normalised and
 * split once; its ids are cached, so the common case per chunk is one slice and one Map lookup.
 */
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";

export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;
const REQUIRED_SPECIAL_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]"] as const;
const MAX_CHARS_PER_WORD = 100;
/** Past this many cached chunks the cache is cleared, so a huge corpus of unique strings cannot exhaust memory. */
const CHUNK_CACHE_LIMIT = 1 << 20;

/** The distilbert-base-uncased `vocab.txt` shipped in `assets/`, so tokenizing works offline. */
export function bundledVocabPath(): string {
  return fileURLToPath(new URL("../assets/distilbert-base-uncased/vocab.txt", import.meta.url));
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

/** Row-major [batchSize, seqLength] ids and mask (1 = token, 0 = padding). */
export interface Batch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  batchSize: number;
  seqLength: number;
}

export interface DecodeOptions {
  /** Drop `[CLS]`, `[SEP]`, `[PAD]`, ... (default true). */
  skipSpecialTokens?: boolean;
  /** Hugging Face's clean_up_tokenization_spaces: " ." → "." etc. (default true, as for BERT). */
  cleanUpSpaces?: boolean;
}

export class BertTokenizer {
  readonly vocab: Map<string, number>;
  readonly idToToken: string[];
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly specialIds: ReadonlySet<number>;
  /** Special tokens are matched in the raw text before normalisation, as Hugging Face's added tokens are. */
  private readonly specialTokens: { token: string; id: number }[];
  private readonly maxPieceLength: number;
  private readonly unkIds: readonly number[];
  private chunkCache = new ChunkCache();

  constructor(tokens: string[], source = "vocab") {
    this.idToToken = tokens;
    this.vocab = new Map();
    let maxLen = 0;
    for (let i = 0; i < tokens.length; i++) {
      // Later duplicates win, as in Hugging Face's vocab loading.
      this.vocab.set(tokens[i], i);
      if (tokens[i].length > maxLen) maxLen = tokens[i].length;
    }
    this.maxPieceLength = maxLen;
    const missing = REQUIRED_SPECIAL_TOKENS.filter((t) => !this.vocab.has(t));
    if (missing.length > 0) {
      throw new UserError(`${source}: not a BERT vocab: missing ${missing.join(", ")}`);
    }
    this.padId = this.vocab.get("[PAD]")!;
    this.unkId = this.vocab.get("[UNK]")!;
    this.clsId = this.vocab.get("[CLS]")!;
    this.sepId = this.vocab.get("[SEP]")!;
    this.unkIds = [this.unkId];
    this.specialTokens = SPECIAL_TOKENS.filter((t) => this.vocab.has(t)).map((token) => ({
      token,
      id: this.vocab.get(token)!,
    }));
    this.specialIds = new Set(this.specialTokens.map((s) => s.id));
  }

  /** Parses `vocab.txt` text: one token per line, id = line number from 0. */
  static fromVocabText(text: string, source = "vocab"): BertTokenizer {
    const lines = text.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return new BertTokenizer(lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l)), source);
  }

  static async load(vocabPath: string): Promise<BertTokenizer> {
    return BertTokenizer.fromVocabText(await readVocabText(vocabPath), vocabPath);
  }

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
    let out = "";
    let first = true;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIds.has(id)) continue;
      const token = this.idToToken[id] ?? this.idToToken[this.unkId];
      if (first) out += token;
      else if (token.startsWith("##")) out += token.slice(2);
      else out += " " + token;
      first = false;
    }
    return (opts.cleanUpSpaces ?? true) ? cleanUpTokenization(out) : out;
  }

  /** Appends the ids of `text` to `out` until `out.length` reaches `limit`. */
  private appendIds(text: string, out: number[], limit: number): void {
    if (text.indexOf("[") < 0) {
      this.appendSegment(text, 0, text.length, out, limit);
      return;
    }
    let pos = 0;
    while (pos < text.length && out.length < limit) {
      let best = -1;
      let bestToken: { token: string; id: number } | null = null;
      for (const s of this.specialTokens) {
        const at = text.indexOf(s.token, pos);
        if (at >= 0 && (best < 0 || at < best)) {
          best = at;
          bestToken = s;
        }
      }
      if (bestToken === null) {
        this.appendSegment(text, pos, text.length, out, limit);
        return;
      }
      this.appendSegment(text, pos, best, out, limit);
      if (out.length < limit) out.push(bestToken.id);
      pos = best + bestToken.token.length;
    }
  }

  private appendSegment(text: string, start: number, end: number, out: number[], limit: number): void {
    const cache = this.chunkCache;
    let i = start;
    while (i < end && out.length < limit) {
      let c = text.charCodeAt(i);
      if (isWhitespace(c)) {
        i++;
        continue;
      }
      // FNV-1a over the chunk's code units while finding its end, so a cache hit needs no slice.
      let hash = Math.imul(0x811c9dc5 ^ c, 0x01000193);
      let j = i + 1;
      while (j < end) {
        c = text.charCodeAt(j);
        if (isWhitespace(c)) break;
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
      this.appendWords(chunk.toLowerCase(), out);
      return out;
    }
    // Clean-up and CJK spacing act on the raw text; CJK ideographs become words of their own.
    let part = "";
    for (const ch of chunk) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
      if (isCjk(cp)) {
        if (part) this.appendWords(normalizeWord(part), out);
        part = "";
        this.appendWords(normalizeWord(ch), out);
      } else {
        part += ch;
      }
    }
    if (part) this.appendWords(normalizeWord(part), out);
    return out;
  }

  /** Splits normalised text at punctuation (each mark a word) and appends the WordPiece ids of every word. */
  private appendWords(text: string, out: number[]): void {
    let wordStart = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const punct = c < 128 ? isAsciiPunct(c) : isUnicodePunct(text, i);
      if (!punct) continue;
      if (i > wordStart) this.appendWordPiece(text.slice(wordStart, i), out);
      // Unicode punctuation outside the BMP is two code units.
      const width = c >= 0xd800 && c < 0xdc00 ? 2 : 1;
      this.appendWordPiece(text.slice(i, i + width), out);
      i += width - 1;
      wordStart = i + 1;
    }
    if (wordStart < text.length) this.appendWordPiece(wordStart === 0 ? text : text.slice(wordStart), out);
  }

  /** Greedy longest-match-first WordPiece; a word with any unmatched remainder becomes one `[UNK]`. */
  private appendWordPiece(word: string, out: number[]): void {
    if (word.length > MAX_CHARS_PER_WORD && codePointLength(word) > MAX_CHARS_PER_WORD) {
      out.push(this.unkId);
      return;
    }
    const whole = this.vocab.get(word);
    if (whole !== undefined) {
      out.push(whole);
      return;
    }
    const pieces: number[] = [];
    let start = 0;
    while (start < word.length) {
      let end = Math.min(word.length, start + this.maxPieceLength);
      if (isLowSurrogateAt(word, end)) end--;
      let found = -1;
      while (end > start) {
        const sub = start === 0 ? word.slice(0, end) : "##" + word.slice(start, end);
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
        if (isLowSurrogateAt(word, end)) end--;
      }
      if (found < 0) {
        out.push(...this.unkIds);
        return;
      }
      pieces.push(found);
      start = end;
    }
    for (const p of pieces) out.push(p);
  }
}

/**
 * Pads sequences into one row-major batch: to the longest (default) or to `padTo`; rows longer than a fixed
 * `padTo` are an error (truncate when encoding instead).
 */
export function padBatch(
  sequences: readonly ArrayLike<number>[],
  opts: { padId?: number; padTo?: "longest" | number } = {},
): Batch {
  const padId = opts.padId ?? 0;
  let longest = 0;
  for (const s of sequences) longest = Math.max(longest, s.length);
  const seqLength = typeof opts.padTo === "number" ? opts.padTo : longest;
  if (longest > seqLength) {
    throw new RangeError(`padBatch: a sequence of ${longest} exceeds padTo ${seqLength}`);
  }
  const batchSize = sequences.length;
  const inputIds = new Int32Array(batchSize * seqLength).fill(padId);
  const attentionMask = new Int32Array(batchSize * seqLength);
  for (let b = 0; b < batchSize; b++) {
    const s = sequences[b];
    const row = b * seqLength;
    for (let t = 0; t < s.length; t++) inputIds[row + t] = s[t];
    attentionMask.fill(1, row, row + s.length);
  }
  return { inputIds, attentionMask, batchSize, seqLength };
}

/** Reads a vocab file, with a one-line error when it is missing or unreadable. */
export async function readVocabText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: vocab file not found`);
    if (err instanceof Deno.errors.IsADirectory) {
      throw new UserError(`${path}: is a directory, not a vocab file`);
    }
    throw err;
  }
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

/**
 * Open-addressing hash table from a text chunk to its ids, looked up by (text, start, end, hash) so that the
 * hot path compares code units in place instead of allocating a slice and hashing it again.
 */
class ChunkCache {
  private keys: (string | undefined)[] = [];
  private hashes = new Int32Array(0);
  private values: (readonly number[])[] = [];
  private mask = 0;
  private size = 0;

  constructor() {
    this.reset(1 << 16);
  }

  get(text: string, start: number, end: number, hash: number): readonly number[] | undefined {
    const length = end - start;
    let slot = hash & this.mask;
    for (;;) {
      const key = this.keys[slot];
      if (key === undefined) return undefined;
      if (this.hashes[slot] === hash && key.length === length && sameChars(key, text, start)) {
        return this.values[slot];
      }
      slot = (slot + 1) & this.mask;
    }
  }

  set(key: string, hash: number, ids: readonly number[]): void {
    if (this.size >= CHUNK_CACHE_LIMIT) this.reset(this.keys.length);
    else if ((this.size + 1) * 2 > this.keys.length) this.grow();
    this.insert(key, hash, ids);
  }

  private insert(key: string, hash: number, ids: readonly number[]): void {
    let slot = hash & this.mask;
    while (this.keys[slot] !== undefined) slot = (slot + 1) & this.mask;
    this.keys[slot] = key;
    this.hashes[slot] = hash;
    this.values[slot] = ids;
    this.size++;
  }

  private reset(capacity: number): void {
    this.keys = new Array(capacity).fill(undefined);
    this.hashes = new Int32Array(capacity);
    this.values = new Array(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.size = 0;
  }

  private grow(): void {
    const { keys, hashes, values } = this;
    this.reset(keys.length * 2);
    for (let s = 0; s < keys.length; s++) {
      if (keys[s] !== undefined) this.insert(keys[s]!, hashes[s], values[s]);
    }
  }
}

function sameChars(key: string, text: string, start: number): boolean {
  for (let k = 0; k < key.length; k++) {
    if (key.charCodeAt(k) !== text.charCodeAt(start + k)) return false;
  }
  return true;
}

// --- character classes -------------------------------------------------------------------------------------

/**
 * \t \n \r and Unicode Zs, plus U+2028/U+2029, which the fast tokenizer's `char::is_whitespace` also counts.
 * Other ASCII controls (\v, \f) are removed as control characters instead.
 */
function isWhitespace(c: number): boolean {
  if (c < 128) return c === 32 || c === 9 || c === 10 || c === 13;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Printable ASCII only: no controls, so cleaning is a no-op and no accent or CJK handling is needed. */
function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

function isAsciiPunct(c: number): boolean {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

const UNICODE_PUNCT = /\p{P}/u;
// Cc, Cf, Co, Cs and unassigned (Cn): the fast tokenizer's `is_other`; \t \n \r never reach here.
const CONTROL = /\p{C}/u;
const COMBINING_MARKS = /\p{Mn}/gu;

function isUnicodePunct(text: string, i: number): boolean {
  const cp = text.codePointAt(i)!;
  return UNICODE_PUNCT.test(String.fromCodePoint(cp));
}

function isControl(ch: string): boolean {
  return CONTROL.test(ch);
}

/** The ideograph blocks BERT pads with spaces (CJK Unified Ideographs, extensions A-E, compatibility). */
function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/**
 * Lowercase, then NFD with combining marks (Mn) removed. Lowercasing a whole whitespace-free chunk keeps
 * context-dependent rules (Greek final sigma) the same as lowercasing the full text.
 */
function normalizeWord(s: string): string {
  return s.toLowerCase().normalize("NFD").replace(COMBINING_MARKS, "");
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || !isHighSurrogate(s.charCodeAt(i - 1))) n++;
  }
  return n;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** True when index `i` splits a surrogate pair (so a slice ending at `i` would cut a character in half). */
function isLowSurrogateAt(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff && isHighSurrogate(s.charCodeAt(i - 1));
}
