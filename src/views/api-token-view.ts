import { z } from 'zod';

/** The machine shape of one of a user's API tokens in `--json` output: never the token or its hash. */
export const ApiTokenViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** When a program last used it (recorded at most once a minute), or null if never. */
  lastUsedAt: z.string().nullable(),
});
export type ApiTokenView = z.infer<typeof ApiTokenViewSchema>;

/** A token just made: the only time the token itself is shown. */
export const ApiTokenCreatedViewSchema = z.object({
  login: z.string(),
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  token: z.string(),
});
export type ApiTokenCreatedView = z.infer<typeof ApiTokenCreatedViewSchema>;

/** A token just revoked. */
export const ApiTokenRevokedViewSchema = z.object({ login: z.string(), id: z.string(), name: z.string() });
export type ApiTokenRevokedView = z.infer<typeof ApiTokenRevokedViewSchema>;

export function apiTokenView(token: { id: string; name: string; createdAt: string; lastUsedAt?: string }): ApiTokenView {
  return { id: token.id, name: token.name, createdAt: token.createdAt, lastUsedAt: token.lastUsedAt ?? null };
}
