import { z } from 'zod';

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it) of the plain kind the views need. */
export type JsonSchema = { [key: string]: unknown };

/**
 * The JSON Schema of a view's zod schema, for the API's OpenAPI description: the answers are
 * described by the same schemas the views are checked with. Only the kinds the views use are
 * known (objects, strings, numbers, booleans, enums, literals, arrays, records, nullable and
 * optional); any other throws, so a view that grows one fails its test instead of being
 * described wrongly.
 */
export function jsonSchemaOf(schema: z.ZodTypeAny): JsonSchema {
  const described = (out: JsonSchema): JsonSchema => (schema.description ? { ...out, description: schema.description } : out);
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodTypeAny>;
    const required = Object.entries(shape)
      .filter(([, field]) => !field.isOptional())
      .map(([name]) => name);
    return described({
      type: 'object',
      properties: Object.fromEntries(Object.entries(shape).map(([name, field]) => [name, jsonSchemaOf(field)])),
      ...(required.length ? { required } : {}),
      additionalProperties: false,
    });
  }
  if (schema instanceof z.ZodNullable) {
    const inner = jsonSchemaOf(schema.unwrap());
    if (typeof inner.type === 'string' && !('enum' in inner)) return described({ ...inner, type: [inner.type, 'null'] });
    return described({ anyOf: [inner, { type: 'null' }] });
  }
  if (schema instanceof z.ZodOptional) return jsonSchemaOf(schema.unwrap());
  if (schema instanceof z.ZodString) return described({ type: 'string' });
  if (schema instanceof z.ZodNumber) return described({ type: schema.isInt ? 'integer' : 'number' });
  if (schema instanceof z.ZodBoolean) return described({ type: 'boolean' });
  if (schema instanceof z.ZodEnum) return described({ type: 'string', enum: [...(schema.options as string[])] });
  if (schema instanceof z.ZodLiteral) return described({ const: schema.value });
  if (schema instanceof z.ZodArray) return described({ type: 'array', items: jsonSchemaOf(schema.element) });
  if (schema instanceof z.ZodRecord) return described({ type: 'object', additionalProperties: jsonSchemaOf(schema.valueSchema) });
  throw new Error(`jsonSchemaOf: no JSON Schema for a ${schema.constructor.name}`);
}
