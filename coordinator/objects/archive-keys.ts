import { DroverError } from "../../shared/errors.ts";
import type { UploadTarget } from "../../shared/protocol/archive-api.ts";

export interface AttemptScope {
  runId: string;
  attemptId: string;
  cacheGroup: string;
}

export function checkArtifactPath(path: string): string {
  if (path.startsWith("/") || path.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new DroverError("bad_request", `artifact path ${path} must be relative, without . or .. segments`);
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
