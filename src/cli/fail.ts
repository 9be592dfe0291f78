/**
 * How a CLI command refuses bad input: one line on stderr, exit code 2 (usage error), no stack.
 * Only the first line is printed (library errors can be multi-line) and registered secrets are
 * masked, since messages may quote user-supplied values.
 */
import { redactText } from "../log/redact.ts";

export function fail(message: string): never {
  process.stderr.write(`error: ${redactText(message.split("\n")[0]!)}\n`);
  process.exit(2);
}
