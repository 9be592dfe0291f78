// `import p from "….bin" with { type: "file" }`: Bun gives the file's path (embedded in the
// compiled binary, the repository's file from source).
declare module "*.bin" {
  const path: string;
  export default path;
}
