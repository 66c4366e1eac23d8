/** `deno task predict --model DIR "text" ...` or `--file F`: the label and its probability per input. */
import { numberFlag, parseFlags, runMain } from "./_cli.ts";
import { predictJob } from "../mod.ts";
import { UserError } from "../util/errors.ts";

const HELP = `deno task predict --model DIR "review text" ... | --file F [flags]

  --model DIR        a trained classifier
  --file F           inputs, one per line: plain text, or JSONL lines {"text": ...}
  --max-length N     tokens per input [default: the model's training max_length, else 512]
  --batch-size N     inputs per batch [default: 32]
  --json             one JSON line per input: label, score, every class's probability, logits
                     [default: "LABEL  probability  text", the predicted label and its probability]`;

async function readInputs(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new UserError(`--file ${path}: cannot read it`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  return lines.map((line, i) => {
    if (!line.trimStart().startsWith("{")) return line;
    try {
      const obj = JSON.parse(line);
      if (typeof obj.text !== "string") throw new Error();
      return obj.text;
    } catch {
      throw new UserError(`--file ${path}: line ${i + 1} is not JSON with a "text" string`);
    }
  });
}

runMain(async () => {
  const { values: v, positionals } = parseFlags(Deno.args, {
    model: { type: "string" },
    file: { type: "string" },
    "max-length": { type: "string" },
    "batch-size": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (v.help) return console.log(HELP);
  if (!v.model) throw new UserError("--model is required (see --help)");
  const texts = [...positionals, ...(v.file ? await readInputs(v.file) : [])];
  if (texts.length === 0) throw new UserError("no input: pass texts as arguments or --file F");
  const predictions = await predictJob({
    model: v.model,
    texts,
    maxLength: numberFlag(v["max-length"], "--max-length", { integer: true, min: 2 }),
    batchSize: numberFlag(v["batch-size"], "--batch-size", { integer: true, positive: true }) ?? 32,
  });
  for (const p of predictions) {
    if (v.json) console.log(JSON.stringify(p));
    else {
      const text = p.text.length > 70 ? p.text.slice(0, 67) + "..." : p.text;
      console.log(`${p.label.padEnd(8)}  ${p.score.toFixed(4)}  ${text.replace(/\s+/g, " ")}`);
    }
  }
});
