/** `atoma-node version`: the same string as `atoma-node --version`. */
import { defineCommand } from "citty";
import { VERSION } from "../../version.ts";

export default defineCommand({
  meta: { name: "version", description: "Print the version" },
  run() {
    process.stdout.write(`${VERSION}\n`);
  },
});
