import { DroverError } from "../../shared/errors.ts";
import type { UploadTarget } from "../../shared/protocol/archive-api.ts";

export interface AttemptScope {
  runId: string;
  attemptId: string;
  cacheGroup: string;
}

/** An artifact's path at most: its object's key (`artifacts/<run>/<attempt>/<path>`) stays within S3's 1,024 bytes. */
const MAX_ARTIFACT_PATH_BYTES = 900;
/** A file name's bound on the common file systems (NAME_MAX), for each of the path's segments. */
const MAX_SEGMENT_BYTES = 255;

/** The path an agent names an artifact by, refused (400) unless every store can keep an object under it. */
export function checkArtifactPath(path: string): string {
  const shown = path.length > 80 ? `${path.slice(0, 80)}…` : path;
  if (path.startsWith("/") || path.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new DroverError("bad_request", `artifact path ${shown} must be relative, without . or .. segments`);
  }
  // no file's name holds one, and no store keeps a key with it
  if (path.includes("\0")) throw new DroverError("bad_request", `artifact path ${JSON.stringify(shown)} holds a NUL byte`);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_ARTIFACT_PATH_BYTES) {
    throw new DroverError(
      "bad_request",
      `artifact path ${shown} is ${bytes} bytes long, more than the ${MAX_ARTIFACT_PATH_BYTES} allowed`,
    );
  }
  if (path.split("/").some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES)) {
    throw new DroverError("bad_request", `artifact path ${shown} has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return path;
}

/**
 * Where an attempt's upload is stored. The key is a function of the attempt and the target alone, so
 * that any coordinator node can tell which object an agent's later request about the same upload
 * means, and the attempt a pending multipart upload belongs to (attemptOfArchiveKey).
 */
export function archiveKey(scope: AttemptScope, target: UploadTarget): string {
  const { runId, attemptId } = scope;
  switch (target.kind) {
    case "workspace":
      return `workspaces/${runId}/${attemptId}-${target.step}.tar.zst`;
    case "cache":
      return `caches/${Bun.hash(scope.cacheGroup).toString(16)}/${attemptId}-${Bun.hash(target.key).toString(16)}.tar.zst`;
    case "artifact":
      return `artifacts/${runId}/${attemptId}/${checkArtifactPath(target.path)}`;
  }
}

const ATTEMPT_IN_KEY = [/^workspaces\/[^/]+\/([^/]+)-\d+\.tar\.zst$/, /^caches\/[^/]+\/([^/]+)-[0-9a-f]+\.tar\.zst$/, /^artifacts\/[^/]+\/([^/]+)\//];

/** The attempt whose upload `key` is (see archiveKey), or null for any other key. */
export function attemptOfArchiveKey(key: string): string | null {
  for (const pattern of ATTEMPT_IN_KEY) {
    const id = pattern.exec(key)?.[1];
    if (id) return id;
  }
  return null;
}
