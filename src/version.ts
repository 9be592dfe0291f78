import pkg from "../package.json" with { type: "json" };

/** Single source of the version string (package.json), embedded in the compiled binary. */
export const VERSION: string = pkg.version;
