/**
 * The tokenizer's code-unit tests: where its chunk splitter cuts (Unicode White_Space, read by char code),
 * plain-ASCII chunks that need no normalising, code point counts and surrogate pairs, and `single_word`.
 */

/**
 * Unicode White_Space, where BertPreTokenizer splits words. With clean_text (`keepControls` false) \v, \f
 * and U+0085 are removed as control characters instead, so they join what is around them.
 */
export function isWhitespace(c: number, keepControls: boolean): boolean {
  if (c < 128) return c === 32 || c === 9 || c === 10 || c === 13 || (keepControls && (c === 11 || c === 12));
  if (c === 0x85) return keepControls;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Printable ASCII only: no controls, so cleaning is a no-op and no accent or CJK handling is needed. */
export function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

export function codePointLength(s: string): number {
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
export function isLowSurrogateAt(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff && isHighSurrogate(s.charCodeAt(i - 1));
}

const WORD_CHAR = /[\p{Alphabetic}\p{N}_]/u;

/** `tokenizers`' single_word rule: the characters around [start, end) are not letters, digits or `_`. */
export function isWholeWord(text: string, start: number, end: number): boolean {
  const before = start > 0 ? String.fromCodePoint(text.codePointAt(start - 1)!) : "";
  const prev = isLowSurrogateAt(text, start - 1)
    ? String.fromCodePoint(text.codePointAt(start - 2)!)
    : before;
  const next = end < text.length ? String.fromCodePoint(text.codePointAt(end)!) : "";
  return !(prev && WORD_CHAR.test(prev)) && !(next && WORD_CHAR.test(next));
}
