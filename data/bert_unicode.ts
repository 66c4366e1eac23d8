/**
 * The character rules of Hugging Face's BERT tokenizer (`tokenizers`' BertNormalizer and BertPreTokenizer),
 * code point by code point: what clean_text removes or turns into a space, which ideographs get spaces around
 * them, what strip_accents (NFD, then drop non-spacing marks) and lowercase (per code point, so no final-sigma
 * rule) make of a character, and what splits a word as punctuation.
 *
 * JavaScript's Unicode properties give these rules almost everywhere, but `tokenizers` takes its categories
 * and decompositions from older Unicode tables (and its lowercase from a newer Rust): the few hundred code
 * points where the two disagree are listed in `bert_unicode_tables.ts`, generated from `tokenizers` itself
 * (`deno run -A scripts/hf_unicode_tables.ts`) and checked for every code point by tests/hf_tokenizer_test.ts.
 */
import { HF_UNICODE_TABLES } from "./bert_unicode_tables.ts";

/** Code points where `tokenizers` differs from JavaScript's Unicode data. Ranges are [first, last] pairs, flat. */
export interface UnicodeTables {
  /** Format characters that clean_text keeps (JavaScript: Cf). */
  notOther: readonly number[];
  /** Removed by clean_text although JavaScript does not call them Cc/Cf/Co/Cs. */
  extraOther: readonly number[];
  /** Not split off as punctuation (JavaScript: \p{P}). */
  notPunct: readonly number[];
  /** Split off as punctuation although JavaScript does not call them \p{P}. */
  extraPunct: readonly number[];
  /** Kept by strip_accents (JavaScript: Mn). */
  notMn: readonly number[];
  /** Dropped by strip_accents although JavaScript does not call them Mn. */
  extraMn: readonly number[];
  /** Not decomposed by strip_accents' NFD (JavaScript's NFD decomposes them). */
  noNfd: readonly number[];
  /** Lowercase mappings JavaScript lacks: [code point, its lowercase code point] pairs, flat. */
  lowercase: readonly number[];
}

export const NO_UNICODE_EXCEPTIONS: UnicodeTables = {
  notOther: [],
  extraOther: [],
  notPunct: [],
  extraPunct: [],
  notMn: [],
  extraMn: [],
  noNfd: [],
  lowercase: [],
};

export interface BertCharRules {
  /** Removed by clean_text: NUL, U+FFFD and `tokenizers`' "other" (control, format, private use) except \t \n \r. */
  isRemoved(cp: number): boolean;
  /**
   * Unicode White_Space (Rust's char::is_whitespace, which BertPreTokenizer splits on); clean_text turns the
   * ones it does not remove (\v, \f and U+0085 are controls to it) into spaces.
   */
  isWhitespace(cp: number): boolean;
  /** Split off as a word of its own by BertPreTokenizer: ASCII punctuation and Unicode P*. */
  isPunctuation(cp: number): boolean;
  /** NFD, then non-spacing marks dropped. */
  stripAccents(s: string): string;
  /** Each code point lowercased on its own (Rust's char::to_lowercase), so Σ is always σ. */
  lowercase(s: string): string;
}

/** The ideograph blocks original BERT pads with spaces (`_is_chinese_char`). */
export function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

export function isAsciiPunctuation(c: number): boolean {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/** A regex character class body for flat [first, last] ranges. */
function classOf(ranges: readonly number[]): string {
  let out = "";
  for (let i = 0; i < ranges.length; i += 2) {
    out += `\\u{${ranges[i].toString(16)}}`;
    if (ranges[i + 1] !== ranges[i]) out += `-\\u{${ranges[i + 1].toString(16)}}`;
  }
  return out;
}

/** `[base]` minus `minus` plus `plus`, as one v-mode regex class. */
function adjusted(base: string, minus: readonly number[], plus: readonly number[], flags = "v"): RegExp {
  let cls = minus.length ? `[[${base}]--[${classOf(minus)}]]` : `[${base}]`;
  if (plus.length) cls = base ? `[${cls}${classOf(plus)}]` : `[${classOf(plus)}]`;
  return new RegExp(cls, flags);
}

/** The rules with the given exceptions (NO_UNICODE_EXCEPTIONS: JavaScript's Unicode data as it is). */
export function makeBertCharRules(t: UnicodeTables): BertCharRules {
  const other = adjusted("\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}", t.notOther, t.extraOther);
  const punct = adjusted("\\p{P}", t.notPunct, t.extraPunct);
  const marks = adjusted("\\p{Mn}", t.notMn, t.extraMn, "gv");
  const noNfd = t.noNfd.length ? adjusted("", [], t.noNfd, "v") : null;
  const noNfdSplit = t.noNfd.length ? adjusted("", [], t.noNfd, "gv") : null;
  const lower = new Map<number, string>();
  for (let i = 0; i < t.lowercase.length; i += 2) {
    lower.set(t.lowercase[i], String.fromCodePoint(t.lowercase[i + 1]));
  }
  const whitespace = /\p{White_Space}/u;

  const nfd = (s: string): string => {
    if (noNfd === null || !noNfd.test(s)) return s.normalize("NFD");
    // Decompose around the characters `tokenizers` leaves whole (each is a starter: nothing reorders across it).
    let out = "", last = 0;
    for (const m of s.matchAll(noNfdSplit!)) {
      out += s.slice(last, m.index).normalize("NFD") + m[0];
      last = m.index + m[0].length;
    }
    return out + s.slice(last).normalize("NFD");
  };
  return {
    isRemoved(cp) {
      if (cp === 0 || cp === 0xfffd) return true;
      if (cp === 9 || cp === 10 || cp === 13) return false;
      return other.test(String.fromCodePoint(cp));
    },
    isWhitespace(cp) {
      return whitespace.test(String.fromCodePoint(cp));
    },
    isPunctuation(cp) {
      return cp < 128 ? isAsciiPunctuation(cp) : punct.test(String.fromCodePoint(cp));
    },
    stripAccents(s) {
      return nfd(s).replace(marks, "");
    },
    lowercase(s) {
      let out = "";
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        out += cp < 128 ? ch.toLowerCase() : (lower.get(cp) ?? ch.toLowerCase());
      }
      return out;
    },
  };
}

/** The rules of the `tokenizers` version the tables were generated from. */
export const BERT_CHAR_RULES: BertCharRules = makeBertCharRules(HF_UNICODE_TABLES);

/** One code point as `tests/hf/unicode_classes.py` describes it (see there). */
export interface CodePointClasses {
  clean: "R" | "W" | "K";
  cjk: boolean;
  stripped: string;
  lowered: string;
  split: 1 | 2 | 3;
}

export function codePointClasses(rules: BertCharRules, cp: number): CodePointClasses {
  const ch = String.fromCodePoint(cp);
  return {
    clean: rules.isRemoved(cp) ? "R" : rules.isWhitespace(cp) && cp !== 32 ? "W" : "K",
    cjk: isChineseChar(cp),
    stripped: rules.stripAccents(ch),
    lowered: rules.lowercase(ch),
    split: rules.isWhitespace(cp) ? 2 : rules.isPunctuation(cp) ? 3 : 1,
  };
}
