/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to `{dtype, shape, data_offsets}` (offsets relative to the data section), then the raw
 * little-endian data. Reading is strict: a corrupt or truncated file is a one-line UserError naming it.
 * Bytes in, bytes out (no file access: pages use it too; model/safetensors.ts reads and writes files).
 */
import { UserError } from "../util/errors.ts";

/**
 * A tensor in host memory. Float files (F32, F16, BF16) load as F32 in a Float32Array; integer files keep
 * their dtype (I64 or I32) with the values in an Int32Array.
 */
export type HostTensor = {
  dtype: "F32" | "I64" | "I32";
  shape: number[];
  data: Float32Array | Int32Array;
};

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

/** The safetensors reference implementation refuses headers above this size; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

// Typed arrays use the host's byte order and the format is little-endian; every platform Deno runs on is
// little-endian (and every browser in use), so one check here replaces per-element byte swapping.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("safetensors.ts assumes a little-endian host");
}

/** Parses a whole safetensors file. `nameForErrors` (usually the path) starts every error message. */
export function parseSafetensors(bytes: Uint8Array, nameForErrors: string): SafetensorsContents {
  const fail = (what: string): never => {
    throw new UserError(`${nameForErrors}: ${oneLine(what)}`);
  };
  if (bytes.length < 8) {
    fail(`not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(
      `header length ${headerLen} runs past the end of the file (${bytes.length} bytes); truncated or not safetensors`,
    );
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const dataStart = 8 + Number(headerLen);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) return fail("header is not a JSON object");

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  const dataLen = bytes.length - dataStart;
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(info)) fail(`__metadata__ is not an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value for ${q(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const t = `tensor ${q(name)}`;
    if (!isPlainObject(info)) return fail(`${t}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== "string") return fail(`${t}: dtype is missing or not a string`);
    if (!(dtype in DTYPE_BYTES)) {
      fail(`unsupported dtype ${q(dtype)} for ${t} (supported: F32, F16, BF16, I64, I32)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return fail(`${t}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      return fail(`${t}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end) fail(`${t}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      fail(
        `${t}: data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes); truncated file?`,
      );
    }
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    const want = count * DTYPE_BYTES[dtype];
    if (end - begin !== want) {
      fail(`${t}: ${end - begin} bytes of data but shape [${shape}] of ${dtype} needs ${want}`);
    }
    entries.push({ name, dtype, shape: [...shape], begin, end });
  }

  const byBegin = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byBegin.length; i++) {
    const prev = byBegin[i - 1], cur = byBegin[i];
    if (cur.begin < prev.end) {
      fail(
        `tensors ${q(prev.name)} [${prev.begin}, ${prev.end}] and ${
          q(cur.name)
        } [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const n = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
    // Typed-array views need offsets that are multiples of the element size, which the format does not
    // promise; an unaligned range is copied first. F32 and I32 are always copied (slice) so that each tensor
    // owns its memory instead of pinning the whole file; the other dtypes are converted into new arrays anyway.
    const start = dataStart + e.begin;
    const aligned = (bytes.byteOffset + start) % DTYPE_BYTES[e.dtype] === 0;
    const source = (): { buffer: ArrayBufferLike; offset: number } =>
      aligned
        ? { buffer: bytes.buffer, offset: bytes.byteOffset + start }
        : { buffer: bytes.slice(start, dataStart + e.end).buffer, offset: 0 };
    let tensor: HostTensor;
    switch (e.dtype) {
      case "F32":
        tensor = {
          dtype: "F32",
          shape: e.shape,
          data: new Float32Array(owned(bytes, start, e.end - e.begin)),
        };
        break;
      case "I32":
        tensor = { dtype: "I32", shape: e.shape, data: new Int32Array(owned(bytes, start, e.end - e.begin)) };
        break;
      case "F16":
      case "BF16": {
        const { buffer, offset } = source();
        const halves = new Uint16Array(buffer, offset, n);
        tensor = {
          dtype: "F32",
          shape: e.shape,
          data: e.dtype === "F16" ? decodeF16(halves) : decodeBF16(halves),
        };
        break;
      }
      default: {
        const { buffer, offset } = source();
        const data = narrowI64(new Int32Array(buffer, offset, 2 * n));
        if (typeof data === "number") {
          const v = new DataView(buffer, offset + data * 8, 8).getBigInt64(0, true);
          return fail(`tensor ${q(e.name)}: I64 value ${v} at index ${data} does not fit in int32`);
        }
        tensor = { dtype: "I64", shape: e.shape, data };
      }
    }
    tensors.set(e.name, tensor);
  }
  return { tensors, metadata };
}

/**
 * Encodes tensors as a safetensors file: names in sorted order with contiguous offsets, the header padded
 * with spaces to a multiple of 8 bytes (so the data section is aligned), `{"format": "pt"}` in the metadata
 * as PyTorch's writer puts it, merged with `metadata`.
 */
export function serializeSafetensors(
  tensors: Map<string, HostTensor> | Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { format: "pt", ...metadata } };
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error(`a tensor cannot be named __metadata__`);
    const t = map.get(name)!;
    checkHostTensor(name, t);
    const size = t.data.length * DTYPE_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const withPad = new Uint8Array(padded).fill(0x20);
    withPad.set(headerBytes);
    headerBytes = withPad;
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const t = map.get(name)!;
    const bytes = t.dtype === "I64" ? widenToI64(t.data as Int32Array) : t.data;
    out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), pos);
    pos += bytes.byteLength;
  }
  return out;
}

function checkHostTensor(name: string, t: HostTensor): void {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`tensor ${q(name)}: shape [${t.shape}] is not a list of non-negative integers`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new Error(`tensor ${q(name)}: ${t.data.length} values but shape [${t.shape}] needs ${count}`);
  }
  const wantFloat = t.dtype === "F32";
  if (wantFloat !== (t.data instanceof Float32Array) || (!wantFloat && !(t.data instanceof Int32Array))) {
    throw new Error(`tensor ${q(name)}: dtype ${t.dtype} does not match its ${t.data.constructor.name}`);
  }
}

/** Every IEEE half's float32 value, by its 16 bits (256 KB, built once when the module loads). */
const F16_TO_F32: Float32Array = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    table[h] = exp === 0
      ? sign * mant * 2 ** -24
      : exp === 31
      ? (mant ? NaN : sign * Infinity)
      : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

/** IEEE half → float32 through the table. */
function decodeF16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = F16_TO_F32[src[i]];
  return out;
}

/** bfloat16 is the top half of a float32, so widening is a shift. */
function decodeBF16(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return new Float32Array(bits.buffer);
}

/** Low words of (low, high) int32 pairs, or the index of the first value outside int32. */
function narrowI64(words: Int32Array): Int32Array | number {
  const n = words.length / 2, out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = words[2 * i];
    // The value fits in int32 exactly when the high word is the sign extension of the low word.
    if (words[2 * i + 1] !== lo >> 31) return i;
    out[i] = lo;
  }
  return out;
}

function widenToI64(src: Int32Array): Int32Array {
  const out = new Int32Array(2 * src.length);
  for (let i = 0; i < src.length; i++) {
    out[2 * i] = src[i];
    out[2 * i + 1] = src[i] >> 31;
  }
  return out;
}

/** A copy of `length` bytes at `start`, in a buffer of its own (so aligned for any typed array). */
function owned(bytes: Uint8Array, start: number, length: number): ArrayBuffer {
  return bytes.slice(start, start + length).buffer;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Quotes a name from the file so that a newline or quote inside it cannot break the one-line message. */
function q(s: string): string {
  return JSON.stringify(s);
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ");
}
