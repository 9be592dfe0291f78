/**
 * A local Hugging Face hub for tests, on loopback (port 0), speaking the endpoints
 * @huggingface/hub 2.17 calls (read from its source: lib/model-info.ts, list-files.ts,
 * paths-info.ts, file-download-info.ts, utils/WebBlob.ts) with the real hub's rules:
 *  - GET  /api/models/<org>/<name>/revision/<rev>      repo info incl. `sha` (the commit)
 *  - GET  /api/models/<org>/<name>/tree/<rev>[/<dir>]  file list (`oid`, `size`, `lfs`), `Link` paging
 *  - POST /api/models/<org>/<name>/paths-info/<rev>    the same entries for named paths
 *  - GET|HEAD /<org>/<name>/resolve/<rev>/<path>       small files inline (`ETag` = git oid);
 *    LFS files 302 to a second "CDN" origin with `X-Linked-Etag`/`X-Linked-Size`; Range → 206
 *  - 401 without / 403 with an ungranted bearer token for gated repos (`X-Error-Code: GatedRepo`);
 *    a missing repo is 401 `RepoNotFound` without a token and 404 with one, as on the real hub;
 *    404 `RevisionNotFound` / `EntryNotFound`.
 * Faults for tests: cut a file's body after N bytes once, corrupt a file's bytes, record requests.
 */
import { resolveRevision, type HubFile, type HubRepo } from "./repo.ts";

export interface HubRequest {
  origin: "hub" | "cdn";
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export interface HubServerOptions {
  repos: HubRepo[];
  /** token → repos it may read when gated/private. */
  tokens?: Record<string, string[]>;
  /** Tree page size (the real hub pages at 1000 entries). */
  pageSize?: number;
}

export interface HubServer {
  url: string;
  cdnUrl: string;
  requests: HubRequest[];
  repos: Map<string, HubRepo>;
  /** path → bytes after which the next content response of that file is cut (then cleared). */
  cutAfter: Map<string, number>;
  /** Paths whose served bytes are altered (one byte flipped). */
  corrupt: Set<string>;
  /** Paths whose body stops after N bytes and then hangs (a stalled transfer). */
  stallAfter: Map<string, number>;
  /** Paths served with 200 and the whole body when a Range starting past 0 is asked (no resume support). */
  ignoreRange: Set<string>;
  stop(): Promise<void>;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
const hubError = (status: number, code: string | undefined, error: string) => json(status, { error }, code ? { "x-error-code": code } : {});

export function startHubServer(opts: HubServerOptions): HubServer {
  const repos = new Map(opts.repos.map((r) => [r.name, r]));
  const tokens = new Map(Object.entries(opts.tokens ?? {}).map(([t, rs]) => [t, new Set(rs)]));
  const pageSize = opts.pageSize ?? 1000;
  const requests: HubRequest[] = [];
  const cutAfter = new Map<string, number>();
  const corrupt = new Set<string>();
  const ignoreRange = new Set<string>();
  const stallAfter = new Map<string, number>();
  const record = (origin: HubRequest["origin"], req: Request) =>
    requests.push({ origin, method: req.method, path: new URL(req.url).pathname, authorization: req.headers.get("authorization") ?? undefined, range: req.headers.get("range") ?? undefined });

  /** Auth rules of the real hub, in its order: credentials, existence, gating. */
  const access = (req: Request, name: string): { repo: HubRepo } | { denied: Response } => {
    const auth = req.headers.get("authorization");
    const token = auth?.startsWith("Bearer ") ? auth.slice(7) : undefined;
    if (auth && (!token || !tokens.has(token))) return { denied: hubError(401, undefined, "Invalid credentials in Authorization header") };
    const granted = token ? tokens.get(token)! : undefined;
    const repo = repos.get(name);
    const notFound = () => hubError(granted ? 404 : 401, "RepoNotFound", "Repository not found");
    if (!repo) return { denied: notFound() };
    if (repo.private && !granted?.has(name)) return { denied: notFound() };
    if (repo.gated && !granted) return { denied: hubError(401, "GatedRepo", `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`) };
    if (repo.gated && !granted!.has(name)) return { denied: hubError(403, "GatedRepo", `Access to model ${name} is restricted and you are not in the authorized list. Visit https://huggingface.co/${name} to ask for access.`) };
    return { repo };
  };

  const entry = (f: HubFile) => ({ type: "file", oid: f.oid, size: f.lfs ? f.lfs.size : f.bytes.byteLength, path: f.path, ...(f.lfs ? { lfs: f.lfs } : {}) });
  const dirsOf = (files: HubFile[]) => [...new Set(files.flatMap((f) => f.path.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"))))].sort();

  /** Content of a file, honouring Range and the test's faults. */
  const content = (req: Request, f: HubFile, headers: Record<string, string>): Response => {
    let bytes = f.bytes;
    if (corrupt.has(f.path)) {
      bytes = bytes.slice();
      bytes[bytes.length >> 1]! ^= 0xff;
    }
    const total = bytes.byteLength;
    let start = 0;
    let end = total - 1;
    const asked = req.headers.get("range");
    // The library's size probe (bytes=0-0) is honoured; only resumes (start > 0) are ignored.
    const range = ignoreRange.has(f.path) && asked && !asked.startsWith("bytes=0-") ? null : asked;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= total) return new Response(null, { status: 416, headers: { "content-range": `bytes */${total}` } });
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), total - 1) : total - 1;
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${total}`;
    }
    headers["accept-ranges"] = "bytes";
    headers["content-length"] = String(end - start + 1);
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const body = bytes.subarray(start, end + 1);
    const stall = stallAfter.get(f.path);
    if (stall !== undefined && body.byteLength > stall) {
      const head = body.subarray(0, stall);
      return new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(head), pull: () => new Promise(() => {}) }), { status, headers });
    }
    const cut = cutAfter.get(f.path);
    if (cut !== undefined && body.byteLength > 1) {
      cutAfter.delete(f.path);
      const head = body.subarray(0, Math.min(cut, body.byteLength - 1));
      // Send part of the body, then fail the stream: the client sees the connection end early.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(head);
        },
        pull(c) {
          c.close();
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(body, { status, headers });
  };

  let cdnUrl = "";
  const hub = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      record("hub", req);
      const url = new URL(req.url);
      const seg = url.pathname.split("/").slice(1).map(decodeURIComponent);
      if (seg[0] === "api" && seg[1] === "models" && seg.length >= 5) {
        const name = `${seg[2]}/${seg[3]}`;
        const a = access(req, name);
        if ("denied" in a) return a.denied;
        const op = seg[4];
        // Revisions like refs/pr/1 arrive percent-encoded (one segment) or, from listFiles, raw.
        let rest = seg.slice(5);
        let rev = rest[0] ?? "HEAD";
        if (rev === "refs" && rest.length >= 3) {
          rev = rest.slice(0, 3).join("/");
          rest = rest.slice(3);
        } else rest = rest.slice(1);
        const commit = resolveRevision(a.repo, rev);
        if (!commit) return hubError(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
        const files = [...a.repo.files.values()];
        if (op === "revision" && req.method === "GET") {
          return json(200, {
            _id: `id-${name}`,
            id: name,
            private: a.repo.private,
            gated: a.repo.gated ? "manual" : false,
            pipeline_tag: "text-generation",
            downloads: 0,
            likes: 0,
            lastModified: "2024-01-01T00:00:00.000Z",
            sha: commit,
            siblings: files.map((f) => ({ rfilename: f.path })),
          });
        }
        if (op === "tree" && req.method === "GET") {
          const under = rest.join("/");
          const recursive = url.searchParams.get("recursive") === "true";
          const inDir = (p: string) => (under === "" ? true : p.startsWith(under + "/")) && (recursive || p.slice(under ? under.length + 1 : 0).split("/").length === 1);
          const all = [...dirsOf(files).filter(inDir).map((path) => ({ type: "directory", oid: "0".repeat(40), size: 0, path })), ...files.filter((f) => inDir(f.path)).map(entry)];
          const cursor = Number(url.searchParams.get("cursor") ?? 0);
          const page = all.slice(cursor, cursor + pageSize);
          const headers: Record<string, string> = {};
          if (cursor + pageSize < all.length) {
            const next = new URL(url);
            next.searchParams.set("cursor", String(cursor + pageSize));
            headers.link = `<${next}>; rel="next"`;
          }
          return json(200, page, headers);
        }
        if (op === "paths-info" && req.method === "POST") {
          const body = (await req.json()) as { paths?: string[] };
          return json(200, (body.paths ?? []).flatMap((p) => (a.repo.files.has(p) ? [entry(a.repo.files.get(p)!)] : [])));
        }
        return hubError(404, undefined, "Not Found");
      }
      const ri = seg.indexOf("resolve");
      if (ri === 2 && seg.length >= 5 && (req.method === "GET" || req.method === "HEAD")) {
        const name = `${seg[0]}/${seg[1]}`;
        const a = access(req, name);
        if ("denied" in a) return a.denied;
        const rev = seg[3]!;
        const commit = resolveRevision(a.repo, rev);
        if (!commit) return hubError(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
        const path = seg.slice(4).join("/");
        const f = a.repo.files.get(path);
        if (!f) return hubError(404, "EntryNotFound", `${path} does not exist on "${rev}"`);
        const common = { "x-repo-commit": commit };
        if (f.lfs) {
          return new Response(null, {
            status: 302,
            headers: { ...common, location: `${cdnUrl}/lfs/${f.lfs.oid}?repo=${encodeURIComponent(name)}`, "x-linked-etag": `"${f.lfs.oid}"`, "x-linked-size": String(f.lfs.size), etag: `"${f.oid}"` },
          });
        }
        return content(req, f, { ...common, etag: `"${f.oid}"`, "content-type": "application/octet-stream" });
      }
      return hubError(404, undefined, "Not Found");
    },
  });
  const cdn = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      record("cdn", req);
      const url = new URL(req.url);
      const m = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
      const repo = repos.get(url.searchParams.get("repo") ?? "");
      const f = m && repo ? [...repo.files.values()].find((x) => x.lfs?.oid === m[1]) : undefined;
      if (!f) return new Response("not found", { status: 404 });
      return content(req, f, { etag: `"${f.lfs!.oid}"`, "content-type": "application/octet-stream" });
    },
  });
  cdnUrl = `http://127.0.0.1:${cdn.port}`;
  return {
    url: `http://127.0.0.1:${hub.port}`,
    cdnUrl,
    requests,
    repos,
    cutAfter,
    corrupt,
    ignoreRange,
    stallAfter,
    async stop() {
      await Promise.all([hub.stop(true), cdn.stop(true)]);
    },
  };
}
