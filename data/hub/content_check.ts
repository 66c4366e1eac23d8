/** The cheap checks a hub file must pass, cached or downloaded: a Parquet, safetensors or JSON file must parse. */
import { parquetMetadata } from "hyparquet";
import { firstLine, printable } from "../../util/errors.ts";

/**
 * Why the file at `path` cannot be `filename`'s contents (a Parquet, safetensors or JSON file must parse), or
 * null. Cheap: a Parquet file's footer and a safetensors header are read, not the data.
 */
export async function contentProblem(path: string, filename: string): Promise<string | null> {
  const kind = filename.endsWith(".parquet")
    ? "parquet"
    : filename.endsWith(".safetensors")
    ? "safetensors"
    : filename.endsWith(".json")
    ? "json"
    : null;
  if (kind === null) return null;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    return firstLine(err);
  }
  try {
    const size = (await file.stat()).size;
    const readAt = async (at: number, n: number) => {
      const buf = new Uint8Array(n);
      await file.seek(at, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await file.read(buf.subarray(got));
        if (r === null) break;
        got += r;
      }
      return buf.subarray(0, got);
    };
    if (kind === "json") {
      if (size > 64 * 1024 * 1024) return null;
      try {
        JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await readAt(0, size)));
        return null;
      } catch {
        return "not valid JSON";
      }
    }
    if (kind === "parquet") {
      const isMagic = (b: Uint8Array) => b.length === 4 && new TextDecoder().decode(b) === "PAR1";
      if (size < 12 || !isMagic(await readAt(0, 4)) || !isMagic(await readAt(size - 4, 4))) {
        return "not a Parquet file: no PAR1 magic bytes";
      }
      const footer = new DataView((await readAt(size - 8, 4)).slice().buffer).getUint32(0, true);
      if (footer + 12 > size) return "not a Parquet file: its footer runs past the start";
      const tail = await readAt(size - footer - 8, footer + 8);
      try {
        parquetMetadata(tail.slice().buffer);
        return null;
      } catch (err) {
        return `not a readable Parquet file: ${printable(firstLine(err))}`;
      }
    }
    // safetensors: an 8-byte header length, a JSON header whose tensors fill the rest of the file exactly.
    if (size < 8) return "not a safetensors file: shorter than its header length";
    const n = Number(new DataView((await readAt(0, 8)).slice().buffer).getBigUint64(0, true));
    if (n < 2 || n > 100_000_000 || 8 + n > size) return "not a safetensors file: bad header length";
    let header: Record<string, { data_offsets?: unknown }>;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await readAt(8, n)));
    } catch {
      return "not a safetensors file: its header is not JSON";
    }
    let end = 0;
    for (const [name, t] of Object.entries(header ?? {})) {
      if (name === "__metadata__") continue;
      const o = t?.data_offsets;
      if (!Array.isArray(o) || o.length !== 2 || !(o[0] <= o[1])) return `not a safetensors file: ${name}`;
      end = Math.max(end, Number(o[1]));
    }
    if (end !== size - 8 - n) {
      return `truncated safetensors file: tensors need ${end} bytes, ${size - 8 - n} follow`;
    }
    return null;
  } finally {
    file.close();
  }
}
