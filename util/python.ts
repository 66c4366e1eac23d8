/** Finding the optional PyTorch peer's interpreter. */

/**
 * A python3 that can `import torch`, or null. Debian's `/usr/bin/python3` comes first: a `python3` earlier
 * on PATH (a virtualenv, a tool's bundled interpreter) often lacks torch.
 */
export async function torchPython(): Promise<string | null> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const probe = await new Deno.Command(python, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => null);
    if (probe?.success) return python;
  }
  return null;
}
