import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openApiDocument } from '../../daemon/web/api-openapi.js';
import { API_PREFIX, API_ROUTES, JsonDeploySchema } from '../../daemon/web/api-routes.js';
import { AppRemovedViewSchema, AppViewSchema } from '../../src/views/app-view.js';
import { jsonSchemaOf } from '../../src/views/json-schema.js';

// The API's OpenAPI description is made from the views' zod schemas and the route list: these
// check that what it says is what the server answers.

type Schema = { type?: unknown; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[] };

describe('the JSON Schema of a zod view', () => {
  it('has the view’s fields, each required, with their kinds', () => {
    const app = jsonSchemaOf(AppViewSchema) as Schema;
    expect(Object.keys(app.properties ?? {}).sort()).toEqual(Object.keys(AppViewSchema.shape).sort());
    expect((app.required ?? []).sort()).toEqual(Object.keys(AppViewSchema.shape).sort());
    expect(app.properties?.status?.enum).toEqual([...AppViewSchema.shape.status.options]);
    expect(app.properties?.port?.type).toEqual(['number', 'null']);
    expect(Object.keys(app.properties?.source?.properties ?? {}).sort()).toEqual(Object.keys(AppViewSchema.shape.source.shape).sort());
    expect(app.properties?.secrets?.items?.properties?.name?.type).toBe('string');
  });

  it('describes the JSON deploy (no field required: one source of several) and a removal', () => {
    const deploy = jsonSchemaOf(JsonDeploySchema) as Schema;
    expect(Object.keys(deploy.properties ?? {}).sort()).toEqual(Object.keys(JsonDeploySchema.shape).sort());
    expect(deploy.required ?? []).toEqual([]);
    expect(jsonSchemaOf(AppRemovedViewSchema)).toMatchObject({ required: ['removed', 'id'] });
  });

  it('refuses a kind it does not know instead of describing it wrongly', () => {
    expect(() => jsonSchemaOf(z.object({ at: z.date() }))).toThrow(/ZodDate/);
  });
});

describe('the OpenAPI description', () => {
  it('lists every route once, each needing the bearer token but the description itself', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { security?: unknown[]; responses: object }>> };
    const listed = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(listed.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${API_PREFIX}${r.path.replace(/:(\w+)/g, '{$1}')}`).sort());
    for (const route of API_ROUTES) {
      const op = doc.paths[`${API_PREFIX}${route.path.replace(/:(\w+)/g, '{$1}')}`]?.[route.method.toLowerCase()];
      expect(op?.security, route.path).toEqual('open' in route ? [] : undefined);
      if (!('open' in route)) expect(Object.keys(op?.responses ?? {})).toContain('401');
    }
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });
});
