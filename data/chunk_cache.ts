/** The tokenizer's cache of chunk ids. */

/** Past this many cached chunks the cache is cleared, so a huge corpus of unique strings cannot exhaust memory. */
const CHUNK_CACHE_LIMIT = 1 << 20;

/**
 * Open-addressing hash table from a text chunk to its ids, looked up by (text, start, end, hash) so that the
 * hot path compares code units in place instead of allocating a slice and hashing it again.
 */
export class ChunkCache {
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
