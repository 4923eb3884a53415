import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { CredsAPIError, CredsNetworkError } from './errors';
import {
  ICredsClient,
  IIntegration,
  IIntegrationList,
  ISignInStart,
  ISnippet,
  SnippetLanguage
} from './types';

/** The server extension's API namespace, under the server's base URL. */
const API_NAMESPACE = 'api/creds';

/**
 * Call the jupyter_creds REST API.
 *
 * @param endPoint path under `{baseUrl}api/creds/`, query string included
 * @param init fetch options (method, body...)
 * @param settings the server connection to use
 * @returns the parsed JSON body, or `undefined` for an empty answer (204)
 * @throws CredsNetworkError when the server cannot be reached
 * @throws CredsAPIError with the `message` and `reason` of the error body
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new CredsNetworkError(
      error instanceof Error ? error.message : String(error)
    );
  }

  const text = await response.text();
  let data: any = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }

  if (!response.ok) {
    const message =
      typeof data?.message === 'string' && data.message
        ? data.message
        : `${response.status} ${response.statusText}`.trim();
    const reason = typeof data?.reason === 'string' ? data.reason : '';
    throw new CredsAPIError(response.status, message, reason);
  }
  return data as T;
}

/** The sidebar's REST calls, against a Jupyter server. */
export class CredsClient implements ICredsClient {
  constructor(
    private readonly _settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  async listIntegrations(): Promise<IIntegration[]> {
    const body = await requestAPI<IIntegrationList>(
      'integrations',
      {},
      this._settings
    );
    return body?.integrations ?? [];
  }

  signIn(id: string): Promise<ISignInStart> {
    return requestAPI<ISignInStart>(
      `integrations/${encodeURIComponent(id)}/signin`,
      { method: 'POST' },
      this._settings
    );
  }

  async signOut(id: string): Promise<void> {
    await requestAPI<void>(
      `integrations/${encodeURIComponent(id)}/signout`,
      { method: 'POST' },
      this._settings
    );
  }

  snippet(id: string, language: SnippetLanguage): Promise<ISnippet> {
    return requestAPI<ISnippet>(
      `integrations/${encodeURIComponent(id)}/snippet?language=${language}`,
      {},
      this._settings
    );
  }
}
