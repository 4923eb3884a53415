import { IIntegration } from '../types';

/** An integration as the server would list it. */
export function integration(patch: Partial<IIntegration> = {}): IIntegration {
  return {
    id: '3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11',
    name: 'snowflake',
    display_name: 'Snowflake (prod)',
    status: 'not_signed_in',
    error: null,
    issuer: 'https://idp.example.com',
    client_id: 'client-123',
    scopes: ['openid', 'offline_access', 'session:role:analyst'],
    auth_url: 'https://idp.example.com/authorize',
    token_url: 'https://idp.example.com/token',
    expires_at: null,
    account: null,
    ...patch
  };
}
