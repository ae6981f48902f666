import type { User } from '../storage/types.js';

/** Claims released per scope (OIDC Core §5.4): `profile` and `email`. */
export function userClaims(user: User, scopes: readonly string[]): Record<string, unknown> {
  return {
    ...(scopes.includes('profile') && {
      preferred_username: user.username,
      ...(user.name !== null && { name: user.name }),
      updated_at: user.updatedAt,
    }),
    ...(scopes.includes('email') && user.email !== null && { email: user.email, email_verified: user.emailVerified }),
  };
}
