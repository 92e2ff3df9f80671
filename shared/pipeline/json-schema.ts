import { z } from "zod";
import { pipelineSchema, taskName, taskSchema } from "./schema.ts";

type JsonSchema = { [key: string]: unknown };

// The parser checks task bodies one by one (schema.ts); editors and the docs want them in place.
const wholePipeline = pipelineSchema.extend({ tasks: z.record(taskName, taskSchema) });

/** The JSON Schema of `.drover.yml`, as written by people (the input side of the zod schema). */
export const pipelineJsonSchema: JsonSchema = {
  ...z.toJSONSchema(wholePipeline, { io: "input", unrepresentable: "any" }),
  $id: "drover.json",
  title: "Drover pipeline (.drover.yml)",
};

const asSchema = (value: unknown): JsonSchema | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonSchema) : undefined;

function branches(schema: JsonSchema): JsonSchema[] {
  const alternatives = [schema.anyOf, schema.oneOf, schema.allOf].flatMap((list) => (Array.isArray(list) ? list : []));
  return [schema, ...alternatives.flatMap((branch) => (asSchema(branch) ? branches(branch as JsonSchema) : []))];
}

function childOf(schema: JsonSchema, segment: PropertyKey): JsonSchema | undefined {
  for (const branch of branches(schema)) {
    const child =
      typeof segment === "number"
        ? asSchema(branch.items)
        : (asSchema(asSchema(branch.properties)?.[String(segment)]) ?? asSchema(branch.additionalProperties));
    if (child) return child;
  }
  return undefined;
}

/** The keys the schema names for the object at `path` of a pipeline (for "did you mean"). */
export function keysAt(path: readonly PropertyKey[]): string[] {
  let schema: JsonSchema | undefined = pipelineJsonSchema;
  for (const segment of path) {
    schema = schema && childOf(schema, segment);
  }
  if (!schema) return [];
  return [...new Set(branches(schema).flatMap((branch) => Object.keys(asSchema(branch.properties) ?? {})))];
}
