import type { Problem } from "./errors.ts";
import type { DeclaredTask } from "./schema.ts";
import { ARCHS, isArch } from "./types.ts";

const MAX_COMBINATIONS = 256;

export interface Variant {
  name: string;
  matrix?: Record<string, string>;
}

function matrixEnvName(key: string): string {
  return `MATRIX_${key.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/** Problems a matrix has beyond its shape, with paths relative to the task. */
export function checkMatrix(task: DeclaredTask): Problem[] {
  const { matrix } = task;
  if (!matrix) return [];
  if (Object.keys(matrix).length === 0) return [{ path: ["matrix"], message: "a matrix needs at least one key" }];
  const problems: Problem[] = [];
  const keyOfEnvName = new Map<string, string>();
  for (const [key, values] of Object.entries(matrix)) {
    values.forEach((value, i) => {
      if (values.indexOf(value) !== i) {
        problems.push({ path: ["matrix", key, i], message: `duplicate value "${value}"` });
      } else if (key === "arch" && !isArch(value)) {
        problems.push({ path: ["matrix", key, i], message: `unknown arch "${value}", expected one of ${ARCHS.join(", ")}` });
      }
    });
    const envName = matrixEnvName(key);
    const clash = keyOfEnvName.get(envName);
    if (clash !== undefined) {
      problems.push({ path: ["matrix", key], message: `sets ${envName} as matrix key "${clash}" does`, at: "key" });
    }
    keyOfEnvName.set(envName, key);
    if (task.env[envName] !== undefined) {
      problems.push({ path: ["env", envName], message: `${envName} is set by matrix key "${key}"`, at: "key" });
    }
  }
  if (matrix.arch && task.arch) {
    problems.push({ path: ["arch"], message: 'arch is also set by matrix key "arch"', at: "key" });
  }
  const count = Object.values(matrix).reduce((product, values) => product * values.length, 1);
  if (count > MAX_COMBINATIONS) {
    problems.push({ path: ["matrix"], message: `${count} combinations, at most ${MAX_COMBINATIONS} allowed`, at: "key" });
  }
  return problems;
}

/** One variant per combination, keys in declared order (`test[arch=amd64,node=20]`); `[{name}]` without a matrix. */
export function variants(name: string, matrix: Record<string, string[]> | undefined): Variant[] {
  if (!matrix) return [{ name }];
  let combinations: Record<string, string>[] = [{}];
  for (const [key, values] of Object.entries(matrix)) {
    combinations = combinations.flatMap((combination) => values.map((value) => ({ ...combination, [key]: value })));
  }
  return combinations.map((combination) => ({
    name: `${name}[${Object.entries(combination)
      .map(([key, value]) => `${key}=${value}`)
      .join(",")}]`,
    matrix: combination,
  }));
}

export function matrixEnv(combination: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(combination).map(([key, value]) => [matrixEnvName(key), value]));
}
