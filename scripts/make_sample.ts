/**
 * One-off: writes the bundled offline quickstart sample, assets/imdb-sample/plain_text/{train,test}-*.parquet:
 * 2,000 train and 1,000 test reviews, class-balanced, drawn with a fixed seed from ../shared/data/imdb, in the
 * hub's schema (text: optional string, label: optional int64), rows kept in source order.
 *
 *   deno run -A scripts/make_sample.ts [SOURCE_DIR]
 */
import { readImdbParquet, selectRows } from "../data/imdb.ts";
import { writeParquet } from "../data/parquet_writer.ts";
import { imdbSplitFilename } from "../data/imdb_source.ts";
import { sharedDir, writeFileAtomic } from "../util/fs.ts";

const SEED = 20240611;
const SIZES = { train: 2000, test: 1000 } as const;

const source = Deno.args[0] ?? `${sharedDir() ?? "../shared/"}data/imdb`;
const outDir = new URL("../assets/imdb-sample/", import.meta.url).pathname;
await Deno.mkdir(`${outDir}plain_text`, { recursive: true });

for (const [split, n] of Object.entries(SIZES) as [keyof typeof SIZES, number][]) {
  const data = await readImdbParquet(`${source}/${imdbSplitFilename(split)}`);
  const rows = Array.from(selectRows(data.labels, n, { seed: SEED })).sort((a, b) => a - b);
  const bytes = writeParquet([
    { name: "text", type: "BYTE_ARRAY", optional: true, values: rows.map((r) => data.texts[r]) },
    { name: "label", type: "INT64", optional: true, values: rows.map((r) => data.labels[r]) },
  ]);
  const path = `${outDir}${imdbSplitFilename(split)}`;
  await writeFileAtomic(path, bytes);
  // Read back through the project's reader: the sample must pass the same checks as the real files.
  const check = await readImdbParquet(path);
  const same = rows.every((r, i) => check.texts[i] === data.texts[r] && check.labels[i] === data.labels[r]);
  if (!same || check.texts.length !== n) throw new Error(`${path}: read-back mismatch`);
  const pos = check.labels.reduce((s, l) => s + l, 0);
  console.log(`${path}: ${n} rows (${n - pos} neg, ${pos} pos), ${bytes.length} bytes`);
  await writeFileAtomic(`${outDir}${split}-rows.txt`, rows.join("\n") + "\n");
}
