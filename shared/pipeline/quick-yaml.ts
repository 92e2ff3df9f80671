import { FAILSAFE_SCHEMA, load, Type } from "js-yaml";

/**
 * The YAML 1.2 core schema's scalars exactly as the `yaml` package resolves them (its `core` schema): js-yaml's own
 * core schema also reads `1_000`, `0b1` and the like as numbers, and the quick read must give what the full one does.
 */
const scalar = (tag: string, test: RegExp, construct: (text: string) => unknown) =>
  new Type(`tag:yaml.org,2002:${tag}`, {
    kind: "scalar",
    resolve: (text: string | null) => test.test(text ?? ""),
    construct: (text: string | null) => construct(text ?? ""),
  });

const CORE = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar("null", /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar("bool", /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === "t" || s[0] === "T"),
    scalar("int", /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/, (s) =>
      s.startsWith("0o") ? parseInt(s.slice(2), 8) : s.startsWith("0x") ? parseInt(s.slice(2), 16) : parseInt(s, 10),
    ),
    scalar(
      "float",
      /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/,
      (s) =>
        s.endsWith("nan") || s.endsWith("NaN") || s.endsWith("NAN")
          ? Number.NaN
          : s.endsWith("nf") || s.endsWith("NF")
            ? s[0] === "-"
              ? -Infinity
              : Infinity
            : parseFloat(s),
    ),
  ],
});

/**
 * What only the full parser reads as it should: aliases (which it bounds against "billion laughs"), tags, merge keys
 * (`<<`), directives, and keys the two turn into different strings (a null or empty key, explicit `?` keys, a
 * collection as a key). A text with any of them, or what looks like one (a glob such as ` *.o` does), is read fully.
 */
const FULL_ONLY =
  /(?:^|[\s[{,:])[*!][^\s,[\]{}]|<<|^%|(?:^|[\s{,?])(?:~|[Nn]ull|NULL)?:(?:\s|$)|^\s*\?(?:\s|$)|[\]}]\s*:(?:\s|$)/m;

/**
 * The pipeline's YAML read fast (js-yaml, 10-50 times faster than `yaml`'s document with positions: 2-13 ms
 * against 50-200 ms for 300 tasks), or undefined where only the full parser reads it right or can say where it
 * is wrong: a syntax error, a duplicate key (js-yaml refuses them too), or anything FULL_ONLY names.
 */
export function quickRead(text: string): { value: unknown } | undefined {
  if (FULL_ONLY.test(text)) return undefined;
  try {
    return { value: load(text, { schema: CORE }) };
  } catch {
    return undefined;
  }
}
