/** A checkout that cannot be done; the message is for the task's error and log (credentials redacted). */
export class CheckoutError extends Error {}

/** The whole URL must match: "https://github\\.com/acme/.*" must not let https://evil.example/github.com/acme/x through. */
export function allowedRepoPattern(regex: string): RegExp {
  return new RegExp(`^(?:${regex})$`);
}

/** Refuses a repository (`url` without credentials) that `--allowed-repos` leaves out; `what` names a submodule. */
export function assertAllowed(url: string, allowedRepos: string | null, what = ""): void {
  if (allowedRepos !== null && !allowedRepoPattern(allowedRepos).test(url)) {
    throw new CheckoutError(`checkout: this agent may not clone ${url} (${what}--allowed-repos ${allowedRepos})`);
  }
}
