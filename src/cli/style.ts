/**
 * Terminal styling for command output: colour only when both stdout and stderr are terminals,
 * never when `NO_COLOR` is set to anything (https://no-color.org), `TERM=dumb`, or `CI`/`TEST` is set
 * (citty, which draws usage and errors, turns colour off for those two whatever we decide, so the
 * whole CLI follows the same rule rather than colouring half its output). Importing this
 * module first (src/cli/main.ts) also tells citty, which colours its usage and errors unless
 * `NO_COLOR=1`, to stay plain when output is piped.
 */
const env = process.env;

export const colorEnabled: boolean =
  !env.NO_COLOR && env.TERM !== "dumb" && !env.CI && !env.TEST && Boolean(process.stdout.isTTY) && Boolean(process.stderr.isTTY);

// citty reads NO_COLOR once, when it is first imported: set before that.
if (!colorEnabled) env.NO_COLOR = "1";

const sgr = (open: number, close: number) => (s: string) => (colorEnabled ? `\u001B[${open}m${s}\u001B[${close}m` : s);

export const paint = {
  green: sgr(32, 39),
  red: sgr(31, 39),
  yellow: sgr(33, 39),
  bold: sgr(1, 22),
  dim: sgr(2, 22),
};
