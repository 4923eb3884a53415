/**
 * The shapes of the jupyter_creds REST API (see DESIGN.md, "REST contract").
 *
 * Field names are the server's, snake_case included: these objects are the
 * JSON bodies, not a translation of them.
 */

/** The status of one integration for the current user. */
export type IntegrationStatus =
  'authenticated' | 'not_signed_in' | 'config_error';

/** One configured OAuth integration, as `GET integrations` lists it. */
export interface IIntegration {
  /** The integration GUID: what snippets pass as `audience`. */
  id: string;
  name: string;
  display_name: string;
  status: IntegrationStatus;
  /** A config error, or why a sign-in is needed again. */
  error: string | null;
  /** Null when the configuration does not say (config_error rows). */
  issuer: string | null;
  client_id: string | null;
  scopes: string[];
  auth_url: string | null;
  token_url: string | null;
  /** Expiry of the current access token, epoch seconds. */
  expires_at: number | null;
  /** Who is signed in (email, preferred_username or sub). */
  account: string | null;
}

/** The body of `GET integrations`. */
export interface IIntegrationList {
  integrations: IIntegration[];
}

/** The languages a snippet can be generated for. */
export type SnippetLanguage = 'python' | 'r';

/** The body of `GET integrations/{id}/snippet?language=`. */
export interface ISnippet {
  language: SnippetLanguage;
  code: string;
  /** Pygments-highlighted HTML of `code`. */
  html: string;
}

/** The body of `POST integrations/{id}/signin`. */
export interface ISignInStart {
  authorization_url: string;
}

/**
 * What the callback page posts when a sign-in ends
 * (on `BroadcastChannel('jupyter-creds')` and to `window.opener`).
 */
export interface ISignInResult {
  type: 'jupyter-creds:signin';
  integration_id: string;
  ok: boolean;
  error: string | null;
}

/**
 * The REST calls the sidebar makes. `CredsClient` implements it against the
 * server; tests hand the model a fake.
 */
export interface ICredsClient {
  listIntegrations(): Promise<IIntegration[]>;
  signIn(id: string): Promise<ISignInStart>;
  signOut(id: string): Promise<void>;
  snippet(id: string, language: SnippetLanguage): Promise<ISnippet>;
}

/** Display names of the snippet languages. */
export const LANGUAGE_LABELS: Record<SnippetLanguage, string> = {
  python: 'Python',
  r: 'R'
};

/** Whether a value names a snippet language. */
export function isSnippetLanguage(value: unknown): value is SnippetLanguage {
  return value === 'python' || value === 'r';
}
