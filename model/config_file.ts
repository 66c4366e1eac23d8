/** config.json on disk (Deno); parsing is model/config.ts's (also used in pages). */
import { readInputFile } from "../util/fs.ts";
import { type DistilBertConfig, parseConfigText } from "./config.ts";

export async function readConfigFile(path: string): Promise<DistilBertConfig> {
  return parseConfigText(await readInputFile(path, Deno.readTextFile), path);
}
