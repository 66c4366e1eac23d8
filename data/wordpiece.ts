/**
 * BertPreTokenizer's punctuation split and WordPiece: each word's greedy longest-match-first pieces from the
 * vocabulary, with a continuation prefix on all but the first; a word with an unmatched remainder, or longer
 * than the per-word character limit, is one `[UNK]`.
 */
import { BERT_CHAR_RULES as rules, isAsciiPunctuation } from "./bert_unicode.ts";
import { codePointLength, isLowSurrogateAt } from "./tokenizer_chars.ts";

export class WordPiece {
  /** The longest token in code units: no piece is looked up longer than this. */
  private readonly maxPieceLength: number;
  private readonly unkIds: readonly number[];

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly unkId: number,
    private readonly continuingSubwordPrefix: string,
    private readonly maxInputCharsPerWord: number,
  ) {
    let maxLen = 0;
    for (const token of vocab.keys()) if (token.length > maxLen) maxLen = token.length;
    this.maxPieceLength = maxLen;
    this.unkIds = [unkId];
  }

  /** Splits normalised text at punctuation (each mark a word) and appends the WordPiece ids of every word. */
  appendWords(text: string, out: number[]): void {
    let wordStart = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // A surrogate pair is one code point, two code units.
      const width = c >= 0xd800 && c < 0xdc00 && i + 1 < text.length ? 2 : 1;
      const punct = c < 128 ? isAsciiPunctuation(c) : rules.isPunctuation(text.codePointAt(i)!);
      if (!punct) {
        i += width - 1;
        continue;
      }
      if (i > wordStart) this.appendWordPiece(text.slice(wordStart, i), out);
      this.appendWordPiece(text.slice(i, i + width), out);
      i += width - 1;
      wordStart = i + 1;
    }
    if (wordStart < text.length) this.appendWordPiece(wordStart === 0 ? text : text.slice(wordStart), out);
  }

  /** Greedy longest-match-first WordPiece; a word with any unmatched remainder becomes one `[UNK]`. */
  private appendWordPiece(word: string, out: number[]): void {
    if (word.length > this.maxInputCharsPerWord && codePointLength(word) > this.maxInputCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const whole = this.vocab.get(word);
    if (whole !== undefined) {
      out.push(whole);
      return;
    }
    const prefix = this.continuingSubwordPrefix;
    const pieces: number[] = [];
    let start = 0;
    while (start < word.length) {
      let end = Math.min(word.length, start + this.maxPieceLength);
      if (isLowSurrogateAt(word, end)) end--;
      let found = -1;
      while (end > start) {
        const sub = start === 0 ? word.slice(0, end) : prefix + word.slice(start, end);
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
