import { describe, expect, test } from "bun:test";
import { oneLineError } from "../../src/log/one-line.ts";
import { registerSecret } from "../../src/log/redact.ts";

describe("oneLineError", () => {
  test("first non-empty line, ONNX Runtime prefix stripped, secrets masked, optional cap", () => {
    expect(oneLineError(new Error("\n  first  \nsecond"))).toBe("first");
    expect(oneLineError("/onnxruntime/core/session.cc:123 Load something was false. model file is corrupt")).toBe("model file is corrupt");
    expect(oneLineError("the check was false. and stays (no .cc source)")).toBe("the check was false. and stays (no .cc source)");
    registerSecret("one-line-s3cret");
    expect(oneLineError(new Error("token one-line-s3cret rejected"))).toBe("token *** rejected");
    expect(oneLineError("x".repeat(300), 200)).toBe(`${"x".repeat(197)}...`);
    expect(oneLineError("")).toBe("unknown error");
  });
});
