/**
 * Signing in through the browser: the provider's window, opened inside the
 * click handler, and the callback page's report of how it ended
 * (DESIGN.md, "Browser-side interfaces").
 */

import { IDisposable } from '@lumino/disposable';

import { describeError } from './errors';
import { ICredsClient, ISignInResult } from './types';

/** The BroadcastChannel the callback page posts on. */
export const SIGNIN_CHANNEL = 'jupyter-creds';

/** The `type` of the callback page's message. */
export const SIGNIN_MESSAGE_TYPE = 'jupyter-creds:signin';

/**
 * The sign-in result a message carries, or null when it is not one of ours:
 * wrong origin, wrong type, or malformed.
 */
export function parseSignInMessage(
  event: Pick<MessageEvent, 'origin' | 'data'>,
  expectedOrigin: string
): ISignInResult | null {
  if (event.origin !== expectedOrigin) {
    return null;
  }
  const data = event.data;
  if (
    !data ||
    typeof data !== 'object' ||
    data.type !== SIGNIN_MESSAGE_TYPE ||
    typeof data.integration_id !== 'string' ||
    !data.integration_id ||
    typeof data.ok !== 'boolean'
  ) {
    return null;
  }
  return {
    type: SIGNIN_MESSAGE_TYPE,
    integration_id: data.integration_id,
    ok: data.ok,
    error: typeof data.error === 'string' && data.error ? data.error : null
  };
}

/**
 * Listens for sign-in results on the BroadcastChannel (any tab of this
 * origin, whoever opened the window) and on `window` (from the window we
 * opened). Both may deliver the same result: handlers must be idempotent.
 */
export class SignInListener implements IDisposable {
  constructor(
    private readonly _onResult: (result: ISignInResult) => void,
    private readonly _window: Window = window
  ) {
    this._origin = _window.location.origin;
    _window.addEventListener('message', this._onMessage);
    const Channel = (_window as any).BroadcastChannel as
      typeof BroadcastChannel | undefined;
    if (Channel) {
      this._channel = new Channel(SIGNIN_CHANNEL);
      this._channel.addEventListener('message', this._onMessage);
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._window.removeEventListener('message', this._onMessage);
    this._channel?.close();
    this._channel = null;
  }

  private _onMessage = (event: Event): void => {
    const result = parseSignInMessage(event as MessageEvent, this._origin);
    if (result) {
      this._onResult(result);
    }
  };

  private _origin: string;
  private _channel: BroadcastChannel | null = null;
  private _isDisposed = false;
}

/** What a sign-in flow reports to the rest of the extension. */
export interface ISignInHooks {
  /** The window is opening (show the row as pending). */
  started(id: string): void;
  /** The server refused to start, or the window could not be used. */
  failed(id: string, message: string): void;
  /** The window closed without the callback page reporting a result. */
  abandoned(id: string): void;
  /**
   * The browser blocked the window: `open` reopens it from a fresh click
   * (e.g. a notification's button).
   */
  blocked(id: string, open: () => void): void;
}

/** How often to look whether the provider's window is still open. */
const WATCH_INTERVAL_MS = 1000;

/** Give up waiting after the server's `state` has expired (10 minutes). */
const WATCH_LIMIT_MS = 10 * 60 * 1000;

/**
 * Starts sign-ins. `start` must be called synchronously inside the click (or
 * key) handler: browsers block `window.open` once an `await` has passed, so
 * the window opens first and is navigated once the server has answered.
 */
export class SignInFlow {
  constructor(
    private readonly _client: ICredsClient,
    private readonly _hooks: ISignInHooks
  ) {}

  start(id: string, displayName: string): void {
    // Keep the opener: the callback page (same origin) reports through it
    // when BroadcastChannel is unavailable.
    const popup = window.open('', '_blank');
    if (popup) {
      Private.writePlaceholder(popup, displayName);
    }
    this._hooks.started(id);
    void this._continue(id, popup);
  }

  private async _continue(id: string, popup: Window | null): Promise<void> {
    let url: string;
    try {
      url = (await this._client.signIn(id)).authorization_url;
    } catch (error) {
      popup?.close();
      this._hooks.failed(id, describeError(error));
      return;
    }
    if (popup && !popup.closed) {
      popup.location.href = url;
      this._watch(id, popup);
      return;
    }
    this._hooks.blocked(id, () => {
      const retry = window.open(url, '_blank');
      if (retry) {
        this._watch(id, retry);
      } else {
        this._hooks.failed(
          id,
          'The browser blocked the sign-in window. Allow pop-ups for this site and try again.'
        );
      }
    });
  }

  /** Stop waiting when the person closes the window without finishing. */
  private _watch(id: string, popup: Window): void {
    const startedAt = Date.now();
    const timer = window.setInterval(() => {
      let closed = true;
      try {
        closed = popup.closed;
      } catch {
        closed = true;
      }
      if (closed || Date.now() - startedAt > WATCH_LIMIT_MS) {
        window.clearInterval(timer);
        this._hooks.abandoned(id);
      }
    }, WATCH_INTERVAL_MS);
  }
}

namespace Private {
  /** Say what is happening in the blank window until it is navigated. */
  export function writePlaceholder(popup: Window, displayName: string): void {
    try {
      const doc = popup.document;
      doc.title = 'Signing in…';
      const p = doc.createElement('p');
      p.style.fontFamily = 'system-ui, sans-serif';
      p.textContent = `Opening the sign-in page for ${displayName}…`;
      doc.body.appendChild(p);
    } catch {
      // Not ours to write to (should not happen for about:blank): fine.
    }
  }
}
