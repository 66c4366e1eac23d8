/** config.json on disk (Deno); parsing is model/config.ts's (also used in pages). */
import { UserError } from "../util/errors.ts";
import { type DistilBertConfig, parseConfigText } from "./config.ts";

export async function readConfigFile(path: string): Promise<DistilBertConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`${path}: no such file`);
    throw err;
  }
  return parseConfigText(text, path);
}
