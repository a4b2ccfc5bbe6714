import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Principal } from '../principal.js';

/**
 * The principal the HTTP transport authenticated, from the SDK's `extra.authInfo.extra.principal`;
 * undefined over stdio (no authInfo). Checked field by field: it crosses the SDK as `unknown`.
 */
export function principalOf(authInfo: AuthInfo | undefined): Principal | undefined {
  const candidate = authInfo?.extra?.principal as Partial<Principal> | undefined;
  if (!candidate || typeof candidate.name !== 'string' || candidate.name === '') return undefined;
  return { name: candidate.name, admin: candidate.admin === true, ...(candidate.budget ? { budget: candidate.budget } : {}) };
}
