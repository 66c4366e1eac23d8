/**
 * Regenerates data/bert_unicode_tables.ts: the code points where Hugging Face `tokenizers` treats a character
 * differently from JavaScript's Unicode data (see data/bert_unicode.ts). Needs the reference venv
 * (scripts/hf_reference.sh).
 *
 *   deno run -A scripts/hf_unicode_tables.ts
 *
 * `hfCodePointDump` and `compareCodePoints` are also what tests/hf_tokenizer_test.ts checks every code point with.
 */
import { fileURLToPath } from "node:url";
import {
  type BertCharRules,
  codePointClasses,
  makeBertCharRules,
  NO_UNICODE_EXCEPTIONS,
  type UnicodeTables,
} from "../data/bert_unicode.ts";
import { hfReference } from "../util/python.ts";

export interface HfCodePoint {
  cp: number;
  clean: string;
  cjk: boolean;
  stripped: string;
  lowered: string;
  split: number;
}

/** Every code point as `tokenizers` treats it (tests/hf/unicode_classes.py, run by `python`). */
export async function hfCodePointDump(python: string): Promise<HfCodePoint[]> {
  const dir = await Deno.makeTempDir();
  try {
    const script = fileURLToPath(new URL("../tests/hf/unicode_classes.py", import.meta.url));
    const out = await new Deno.Command(python, { args: [script, `${dir}/classes.tsv`], stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`unicode_classes.py failed: ${new TextDecoder().decode(out.stderr)}`);
    const text = await Deno.readTextFile(`${dir}/classes.tsv`);
    return text.split("\n").filter((l) => l).map((line) => {
      const [cp, clean, cjk, stripped, lowered, split] = line.split("\t");
      return {
        cp: Number(cp),
        clean,
        cjk: cjk === "1",
        stripped: JSON.parse(stripped),
        lowered: JSON.parse(lowered),
        split: Number(split),
      };
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export type Field = "clean" | "cjk" | "stripped" | "lowered" | "split";

/** Code points where `rules` and `tokenizers` differ, per field. */
export function compareCodePoints(hf: HfCodePoint[], rules: BertCharRules): Map<Field, HfCodePoint[]> {
  const diffs = new Map<Field, HfCodePoint[]>();
  for (const h of hf) {
    const ours = codePointClasses(rules, h.cp);
    for (const f of ["clean", "cjk", "stripped", "lowered", "split"] as const) {
      if (ours[f] !== h[f]) {
        if (!diffs.has(f)) diffs.set(f, []);
        diffs.get(f)!.push(h);
      }
    }
  }
  return diffs;
}

function toRanges(cps: number[]): number[] {
  const sorted = [...new Set(cps)].sort((a, b) => a - b);
  const out: number[] = [];
  for (const cp of sorted) {
    if (out.length && out[out.length - 1] === cp - 1) out[out.length - 1] = cp;
    else out.push(cp, cp);
  }
  return out;
}

/** Tables that make `rules` agree with `hf`; throws on a difference no table explains. */
function deriveTables(hf: HfCodePoint[]): UnicodeTables {
  const js = makeBertCharRules(NO_UNICODE_EXCEPTIONS);
  // One empty list per table, keyed as UnicodeTables is.
  type Sets = Record<keyof UnicodeTables, number[]>;
  const sets = Object.fromEntries(Object.keys(NO_UNICODE_EXCEPTIONS).map((k) => [k, [] as number[]])) as Sets;
  const unexplained: string[] = [];
  const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const h of hf) {
    const ours = codePointClasses(js, h.cp);
    const ch = String.fromCodePoint(h.cp);
    if (ours.clean !== h.clean) {
      if (ours.clean === "R" && h.clean === "K") sets.notOther.push(h.cp);
      else if (ours.clean === "K" && h.clean === "R") sets.extraOther.push(h.cp);
      else unexplained.push(`${hex(h.cp)} clean ${h.clean} (ours ${ours.clean})`);
    }
    if (ours.split !== h.split) {
      if (ours.split === 3 && h.split === 1) sets.notPunct.push(h.cp);
      else if (ours.split === 1 && h.split === 3) sets.extraPunct.push(h.cp);
      else unexplained.push(`${hex(h.cp)} split ${h.split} (ours ${ours.split})`);
    }
    if (ours.stripped !== h.stripped) {
      const decomposes = ch.normalize("NFD") !== ch;
      if (h.stripped === ch && decomposes) {
        sets.noNfd.push(h.cp);
        if (/\p{Mn}/u.test(ch)) sets.notMn.push(h.cp);
      } else if (h.stripped === ch && ours.stripped === "") sets.notMn.push(h.cp);
      else if (h.stripped === "" && ours.stripped === ch) sets.extraMn.push(h.cp);
      else unexplained.push(`${hex(h.cp)} stripped ${JSON.stringify(h.stripped)} (ours ${ours.stripped})`);
    }
    if (ours.lowered !== h.lowered) {
      if ([...h.lowered].length === 1) sets.lowercase.push(h.cp, h.lowered.codePointAt(0)!);
      else unexplained.push(`${hex(h.cp)} lowered ${JSON.stringify(h.lowered)} (ours ${ours.lowered})`);
    }
    if (ours.cjk !== h.cjk) unexplained.push(`${hex(h.cp)} cjk ${h.cjk} (ours ${ours.cjk})`);
  }
  if (unexplained.length) {
    throw new Error(`differences no table explains:\n${unexplained.slice(0, 40).join("\n")}`);
  }
  const tables = { ...sets } as UnicodeTables;
  for (const k of Object.keys(sets) as (keyof UnicodeTables)[]) {
    if (k !== "lowercase") (tables as unknown as Record<string, number[]>)[k] = toRanges(sets[k]);
  }
  return tables;
}

function render(tables: UnicodeTables, versions: string): string {
  const lines = [
    "// Generated by `deno run -A scripts/hf_unicode_tables.ts`; do not edit. The code points where Hugging Face",
    `// tokenizers (${versions}) differs from JavaScript's Unicode data (Deno ${Deno.version.deno},`,
    `// V8 ${Deno.version.v8}); see data/bert_unicode.ts.`,
    'import type { UnicodeTables } from "./bert_unicode.ts";',
    "",
    "export const HF_UNICODE_TABLES: UnicodeTables = {",
  ];
  for (const [k, v] of Object.entries(tables) as [string, number[]][]) {
    const items = v.map((n) => `0x${n.toString(16)}`);
    const rows: string[] = [];
    for (let i = 0; i < items.length; i += 10) rows.push(`    ${items.slice(i, i + 10).join(", ")},`);
    lines.push(rows.length ? `  ${k}: [\n${rows.join("\n")}\n  ],` : `  ${k}: [],`);
  }
  lines.push("};", "");
  return lines.join("\n");
}

if (import.meta.main) {
  const ref = await hfReference();
  if (!ref) throw new Error("no HF reference venv (scripts/hf_reference.sh)");
  const hf = await hfCodePointDump(ref.python);
  const tables = deriveTables(hf);
  const left = compareCodePoints(hf, makeBertCharRules(tables));
  if (left.size) {
    throw new Error(`still differing: ${[...left].map(([f, l]) => `${f} ${l.length}`).join(", ")}`);
  }
  const path = fileURLToPath(new URL("../data/bert_unicode_tables.ts", import.meta.url));
  await Deno.writeTextFile(path, render(tables, `tokenizers ${ref.versions.tokenizers}`));
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
  const counts = Object.entries(tables).map(([k, v]) => `${k} ${v.length / 2}`);
  console.log(`wrote ${path}: ${hf.length} code points; exceptions (ranges or pairs): ${counts.join(", ")}`);
}
