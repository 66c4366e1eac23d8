/**
 * Tokenize a split once and keep the ids on disk, so training and evaluation never re-tokenize.
 *
 * A cache file is named by a hash of everything its contents depend on (the data file's path, size and
 * mtime, its format and the columns asked for, the tokenizer's sha256 (its tokenizer.json: vocabulary,
 * options, added tokens), max_length, the format version, which also changes when the tokenizer's rules do),
 * and records the same in its header, which is checked on load: a stale or damaged cache is rebuilt, never
 * used. The header also holds what the labels are (integer ids, or the class names string labels index).
 *
 * File layout (little-endian): "DBWTOK01", u32 header byte length, JSON header padded to 4 bytes, then Int32
 * arrays offsets[n+1], labels[n], rows[n], ids[offsets[n]].
 */
import { UserError } from "../util/errors.ts";
import { writeError, writeFileAtomic } from "../util/fs.ts";
import { type ColumnOptions, readDataset } from "./dataset.ts";
import type { LabelColumn } from "./labels.ts";
import type { BertTokenizer } from "./tokenizer.ts";
import { loadTokenizer, tokenizerJson } from "./tokenizer_files.ts";

const MAGIC = "DBWTOK01";
/**
 * 2: Hugging Face tokenizers' per-code-point rules (final sigma, unassigned code points kept, CJK ranges).
 * 3: any data format and columns; string labels (names in the header).
 */
const FORMAT_VERSION = 3;

export interface TokenizedSplit {
  /** Every row's ids, `[CLS] ... [SEP]`, back to back. */
  ids: Int32Array;
  /** Row i is `ids.subarray(offsets[i], offsets[i + 1])`; length n+1. */
  offsets: Int32Array;
  /** Integer labels as they are; string labels as indices into `labelInfo.names`. */
  labels: Int32Array;
  /** Row index in the source file. */
  rows: Int32Array;
}

/** What a split's labels are, and the columns they were read from. */
export interface LabelInfo {
  textColumn: string;
  labelColumn: string;
  kind: LabelColumn["kind"];
  /** String labels: the class names, in id order; null for integer labels. */
  names: string[] | null;
  /** Integer labels: a Hugging Face Parquet file's ClassLabel names, if it has them. */
  classNames: string[] | null;
}

/** The LabelColumn of a tokenized split (`labelInfo` and its labels). */
export function labelColumnOf(split: TokenizedSplit & { labelInfo: LabelInfo }): LabelColumn {
  const info = split.labelInfo;
  return info.kind === "int"
    ? { kind: "int", values: split.labels }
    : { kind: "string", names: info.names!, codes: split.labels };
}

export interface LoadTokenizedSplitOptions {
  /** The data file: Parquet, CSV, TSV or JSONL (see data/dataset.ts; the name is from when only Parquet was). */
  parquetPath: string;
  /** Which columns hold the text and the label, and the format when the extension does not say. */
  columns?: ColumnOptions;
  /** The tokenizer, or where to load it from (vocab.txt, tokenizer.json or a model directory). */
  tokenizer?: BertTokenizer;
  vocabPath?: string;
  maxLength: number;
  /** Default: `defaultTokenCacheDir()`. */
  cacheDir?: string;
}

export interface TokenizedSplitInfo extends TokenizedSplit {
  cachePath: string;
  /** True when loaded from an existing cache file, false when tokenized now. */
  fromCache: boolean;
  tokenizerSha256: string;
  /** Rows whose text was null or empty, and rows that were not valid UTF-8 (`textWarnings`). */
  emptyTexts: number;
  invalidUtf8: number;
  labelInfo: LabelInfo;
}

interface CacheHeader {
  version: number;
  parquetPath: string;
  parquetSize: number;
  parquetMtimeMs: number;
  /** The format and columns asked for (null: from the extension, the default column names). */
  format: string | null;
  textColumn: string | null;
  labelColumn: string | null;
  tokenizerSha256: string;
  maxLength: number;
  labelInfo: LabelInfo;
  rowCount: number;
  idCount: number;
  /** Rows whose text was null or empty, and rows that were not valid UTF-8 (for the warnings). */
  emptyTexts: number;
  invalidUtf8: number;
}

/** `$XDG_CACHE_HOME/distilbert-webgpu/tokenized`, defaulting to `~/.cache/distilbert-webgpu/tokenized`. */
export function defaultTokenCacheDir(env: { XDG_CACHE_HOME?: string; HOME?: string } = processEnv()): string {
  const base = env.XDG_CACHE_HOME || `${env.HOME || "."}/.cache`;
  return `${base}/distilbert-webgpu/tokenized`;
}

/** Loads the cached ids for this (parquet, vocab, maxLength), tokenizing and caching them first if needed. */
export async function loadTokenizedSplit(opts: LoadTokenizedSplitOptions): Promise<TokenizedSplitInfo> {
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 2) {
    throw new UserError(`max length must be an integer of at least 2, got ${opts.maxLength}`);
  }
  if (!opts.tokenizer && !opts.vocabPath) throw new Error("loadTokenizedSplit: pass tokenizer or vocabPath");
  const tokenizer = opts.tokenizer ?? (await loadTokenizer(opts.vocabPath!)).tokenizer;
  const tokenizerSha256 = await tokenizerFingerprint(tokenizer);
  const parquet = await statParquet(opts.parquetPath);
  const expected: Expected = {
    version: FORMAT_VERSION,
    parquetPath: parquet.realPath,
    parquetSize: parquet.size,
    parquetMtimeMs: parquet.mtimeMs,
    format: opts.columns?.format ?? null,
    textColumn: opts.columns?.textColumn ?? null,
    labelColumn: opts.columns?.labelColumn ?? null,
    tokenizerSha256,
    maxLength: opts.maxLength,
  };
  const cacheDir = opts.cacheDir ?? defaultTokenCacheDir();
  const key = (await sha256Hex(new TextEncoder().encode(JSON.stringify(expected)))).slice(0, 32);
  const cachePath = `${cacheDir}/${key}.bin`;

  const cached = await readCache(cachePath, expected);
  if (cached) return { ...cached, cachePath, fromCache: true, tokenizerSha256 };

  const data = await readDataset(opts.parquetPath, opts.columns);
  const { ids, offsets } = tokenizeTexts(tokenizer, data.texts, opts.maxLength);
  const split: TokenizedSplit = {
    ids,
    offsets,
    labels: data.labels.kind === "int" ? data.labels.values : data.labels.codes,
    rows: Int32Array.from({ length: data.texts.length }, (_, i) => i),
  };
  const labelInfo: LabelInfo = {
    textColumn: data.textColumn,
    labelColumn: data.labelColumn,
    kind: data.labels.kind,
    names: data.labels.kind === "string" ? data.labels.names : null,
    classNames: data.classNames,
  };
  const counts = { emptyTexts: data.emptyTexts, invalidUtf8: data.invalidUtf8, labelInfo };
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
  } catch (err) {
    throw writeError(err, cacheDir);
  }
  await writeFileAtomic(
    cachePath,
    encodeCache({ ...expected, rowCount: data.texts.length, idCount: ids.length, ...counts }, split),
  );
  return { ...split, cachePath, fromCache: false, tokenizerSha256, ...counts };
}

/** sha256 of the tokenizer's tokenizer.json (everything that decides its ids): milliseconds, once a split. */
export function tokenizerFingerprint(tokenizer: BertTokenizer): Promise<string> {
  return sha256Hex(new TextEncoder().encode(tokenizerJson(tokenizer)));
}

/** Tokenizes every text into one flat id array plus offsets (length n+1). */
export function tokenizeTexts(
  tokenizer: BertTokenizer,
  texts: readonly string[],
  maxLength: number,
): { ids: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(texts.length + 1);
  let ids = new Int32Array(Math.max(1024, texts.length * 128));
  let used = 0;
  for (let i = 0; i < texts.length; i++) {
    const seq = tokenizer.encode(texts[i], { maxLength });
    if (used + seq.length > ids.length) {
      const grown = new Int32Array(Math.max(ids.length * 2, used + seq.length));
      grown.set(ids.subarray(0, used));
      ids = grown;
    }
    ids.set(seq, used);
    used += seq.length;
    offsets[i + 1] = used;
  }
  return { ids: ids.slice(0, used), offsets };
}

/** Row i's ids (a view, no copy). */
export function sequenceAt(split: TokenizedSplit, i: number): Int32Array {
  return split.ids.subarray(split.offsets[i], split.offsets[i + 1]);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function encodeCache(header: CacheHeader, split: TokenizedSplit): Uint8Array {
  let json = JSON.stringify(header);
  while ((12 + json.length) % 4 !== 0) json += " ";
  const headerBytes = new TextEncoder().encode(json);
  const arrays = [split.offsets, split.labels, split.rows, split.ids];
  const total = 12 + headerBytes.length + arrays.reduce((n, a) => n + a.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  let at = 12 + headerBytes.length;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  return out;
}

/** The cached split if `path` exists, is intact and matches `expected`; null means "rebuild". */
type Expected = Omit<CacheHeader, "rowCount" | "idCount" | "emptyTexts" | "invalidUtf8" | "labelInfo">;

async function readCache(
  path: string,
  expected: Expected,
): Promise<(TokenizedSplit & { emptyTexts: number; invalidUtf8: number; labelInfo: LabelInfo }) | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return null;
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + headerLength > bytes.length) return null;
  let header: CacheHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    return null;
  }
  for (const [k, v] of Object.entries(expected)) {
    if (header[k as keyof CacheHeader] !== v) return null;
  }
  const n = header.rowCount;
  const lengths = [n + 1, n, n, header.idCount];
  const body = bytes.length - 12 - headerLength;
  if (!Number.isInteger(n) || body !== lengths.reduce((a, b) => a + b, 0) * 4) return null;
  const [offsets, labels, rows, ids] = lengths.map((len, i) => {
    const start = 12 + headerLength + lengths.slice(0, i).reduce((a, b) => a + b, 0) * 4;
    return new Int32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + len * 4));
  });
  if (offsets[n] !== ids.length) return null;
  const emptyTexts = header.emptyTexts, invalidUtf8 = header.invalidUtf8;
  if (!Number.isInteger(emptyTexts) || !Number.isInteger(invalidUtf8)) return null;
  const labelInfo = header.labelInfo;
  if (
    typeof labelInfo?.textColumn !== "string" ||
    (labelInfo.kind === "string") !== Array.isArray(labelInfo.names)
  ) {
    return null;
  }
  return { ids, offsets, labels, rows, emptyTexts, invalidUtf8, labelInfo };
}

async function statParquet(path: string): Promise<{ realPath: string; size: number; mtimeMs: number }> {
  try {
    const realPath = await Deno.realPath(path);
    const info = await Deno.stat(realPath);
    if (!info.isFile) throw new UserError(`${path}: is not a file`);
    return { realPath, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: file not found`);
    throw err;
  }
}

function processEnv(): { XDG_CACHE_HOME?: string; HOME?: string } {
  try {
    return { XDG_CACHE_HOME: Deno.env.get("XDG_CACHE_HOME"), HOME: Deno.env.get("HOME") };
  } catch {
    return {};
  }
}
