import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { asc, eq } from "drizzle-orm";
import { DroverError } from "../../shared/errors.ts";
import { newId } from "../../shared/ids.ts";
import type { Db } from "../db/open.ts";
import { projects } from "../db/schema.ts";
import type { SecretCipher } from "../secrets/cipher.ts";
import { defaultApiUrl } from "./api-url.ts";
import type { CheckoutAccess } from "./checkout.ts";
import { type Credentials, type CredentialsInput, type Forge, normalizeCredentials } from "./credentials.ts";
import type { RepoAccess } from "./git.ts";
import { Mirror } from "./mirror.ts";

export type ProjectRow = typeof projects.$inferSelect & { forge: Forge };

export interface NewProject {
  name: string;
  repo: { url: string; forge: Forge; credentials?: CredentialsInput | null };
  apiUrl?: string | null;
  defaultBranch?: string;
  pipelinePath?: string;
  pollMs?: number | null;
  forkApproval?: boolean;
  user: string;
}

/**
 * Projects and their secrets. Clone credentials and the webhook secret are stored encrypted and only
 * decrypted here, for git (the mirror, an assignment's checkout) and for checking a delivery's signature.
 */
export class Projects {
  private readonly mirrors = new Map<string, Mirror>();
  /** decrypted once per project, so dispatch does not read and decrypt for every assignment */
  private readonly accessCache = new Map<string, CheckoutAccess | null>();

  constructor(
    private readonly db: Db,
    private readonly cipher: SecretCipher,
    private readonly mirrorRoot: string,
  ) {}

  /** Creates a project; the clear webhook secret is returned this once. */
  async create(input: NewProject): Promise<{ project: ProjectRow; hookSecret: string }> {
    const hookSecret = randomBytes(32).toString("hex");
    const { url, forge, credentials } = input.repo;
    const row: ProjectRow = {
      id: newId(),
      name: input.name,
      repoUrl: url,
      forge,
      apiUrl: input.apiUrl ?? defaultApiUrl(forge, url),
      defaultBranch: input.defaultBranch ?? "main",
      pipelinePath: input.pipelinePath ?? ".drover.yml",
      pollMs: input.pollMs ?? null,
      forkApproval: input.forkApproval ?? false,
      credentials: credentials ? this.cipher.encrypt(JSON.stringify(normalizeCredentials(credentials, forge))) : null,
      hookSecret: this.cipher.encrypt(hookSecret),
      nextRunNumber: 1,
      user: input.user,
      createdAt: Date.now(),
    };
    const inserted = await this.db.insert(projects).values(row).onConflictDoNothing().returning({ id: projects.id });
    if (inserted.length === 0) throw new DroverError("conflict", `project ${input.name} exists already`);
    return { project: row, hookSecret };
  }

  async list(): Promise<ProjectRow[]> {
    return (await this.db.select().from(projects).orderBy(asc(projects.name))) as ProjectRow[];
  }

  async get(name: string): Promise<ProjectRow | undefined> {
    const [row] = await this.db.select().from(projects).where(eq(projects.name, name));
    return row as ProjectRow | undefined;
  }

  async byId(id: string): Promise<ProjectRow | undefined> {
    const [row] = await this.db.select().from(projects).where(eq(projects.id, id));
    return row as ProjectRow | undefined;
  }

  /** Removes the project and its mirror; its runs stay, still named `name #N`. */
  async remove(name: string): Promise<boolean> {
    const [gone] = await this.db.delete(projects).where(eq(projects.name, name)).returning({ id: projects.id });
    if (!gone) return false;
    await this.dropMirror(gone.id);
    return true;
  }

  /**
   * Removes the mirrors under this node's data dir whose project is gone: deleted through another node of a
   * cluster, or while a removal here was cut short. Answers the project ids whose mirrors went.
   */
  async pruneMirrors(): Promise<string[]> {
    const ids = existsSync(this.mirrorRoot) ? readdirSync(this.mirrorRoot).filter((n) => n.endsWith(".git")).map((n) => n.slice(0, -4)) : [];
    if (ids.length === 0) return [];
    const known = new Set((await this.db.select({ id: projects.id }).from(projects)).map((r) => r.id));
    const gone = ids.filter((id) => !known.has(id));
    for (const id of gone) await this.dropMirror(id);
    return gone;
  }

  /** Forgets a project's mirror and removes its dir, after whatever the mirror is doing now (a fetch does not write into a removed dir). */
  private async dropMirror(id: string): Promise<void> {
    const mirror = this.mirrors.get(id);
    this.mirrors.delete(id);
    this.accessCache.delete(id);
    const removeDir = async () => rmSync(join(this.mirrorRoot, `${id}.git`), { recursive: true, force: true });
    await (mirror ? mirror.exclusive(removeDir) : removeDir());
  }

  /** The secret forges sign deliveries with (GitLab sends it as its token). */
  hookSecret(project: ProjectRow): string {
    return this.cipher.decrypt(project.hookSecret);
  }

  credentials(project: ProjectRow): Credentials | null {
    return project.credentials ? (JSON.parse(this.cipher.decrypt(project.credentials)) as Credentials) : null;
  }

  access(project: ProjectRow): RepoAccess {
    return { url: project.repoUrl, credentials: this.credentials(project) };
  }

  /** `checkoutAccess` where it is known without a read; undefined where it is not. */
  knownCheckoutAccess(projectId: string): CheckoutAccess | null | undefined {
    return this.accessCache.get(projectId);
  }

  /** How an agent clones a run's project; null once the project is deleted (its tasks that check out then fail: checkoutUnavailable). */
  async checkoutAccess(projectId: string): Promise<CheckoutAccess | null> {
    if (this.accessCache.has(projectId)) return this.accessCache.get(projectId)!;
    const project = await this.byId(projectId);
    const access = project ? { url: project.repoUrl, forge: project.forge, credentials: this.credentials(project) } : null;
    this.accessCache.set(projectId, access);
    return access;
  }

  /** The project's bare mirror under the data dir (created on first fetch). */
  mirror(project: ProjectRow): Mirror {
    let mirror = this.mirrors.get(project.id);
    if (!mirror) {
      mirror = new Mirror(join(this.mirrorRoot, `${project.id}.git`), () => this.access(project));
      this.mirrors.set(project.id, mirror);
    }
    return mirror;
  }
}
