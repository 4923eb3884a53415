/**
 * The credentials model: the integrations list, kept fresh by a `Poll` that
 * stands by while nobody can see it, plus the sign-in state the browser keeps.
 * No DOM beyond `document.visibilityState`.
 */

import { IDisposable } from '@lumino/disposable';
import { IPoll, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { describeError, isUnreachable } from './errors';
import { ISignInState } from './tree';
import { ICredsClient, IIntegration } from './types';

/** Where the list stands with the server. */
export type ConnectionState =
  /** No answer yet. */
  | 'loading'
  /** The last request succeeded. */
  | 'ready'
  /** The server did not answer (the poll backs off and retries). */
  | 'unreachable'
  /** The server answered with an error (e.g. the extension is disabled). */
  | 'failed';

/** The refresh interval when no setting says otherwise, in seconds. */
export const DEFAULT_INTERVAL_SECONDS = 30;

/** The longest wait between retries while the server is unreachable. */
const MAX_BACKOFF_MS = 120 * 1000;

/**
 * The poll's standby rule: no requests while the browser tab is hidden or
 * the panel is not visible (collapsed sidebar, another tab in front).
 *
 * Reads `visibilityState` rather than `hidden` so that tests can fake a
 * hidden page by overriding it (headless pages always report visible).
 */
export function shouldStandby(
  doc: Pick<Document, 'visibilityState'> | undefined,
  panelVisible: boolean
): boolean {
  return !panelVisible || doc?.visibilityState === 'hidden';
}

/** The poll frequency for a refresh interval in seconds. */
export function pollFrequency(seconds: number): IPoll.Frequency {
  const valid =
    Number.isFinite(seconds) && seconds > 0
      ? seconds
      : DEFAULT_INTERVAL_SECONDS;
  const interval = Math.round(valid * 1000);
  return {
    interval,
    backoff: true,
    max: Math.max(interval, Math.min(10 * interval, MAX_BACKOFF_MS))
  };
}

export namespace CredentialsModel {
  export interface IOptions {
    client: ICredsClient;
    /** Whether the view showing the list is visible. */
    isViewVisible: () => boolean;
    /** Refresh interval in seconds (default 30). */
    interval?: number;
    /** The document whose visibility counts (default: the global one). */
    document?: Document;
  }
}

export class CredentialsModel implements IDisposable {
  constructor(options: CredentialsModel.IOptions) {
    this._client = options.client;
    this._isViewVisible = options.isViewVisible;
    this._document =
      options.document ??
      (typeof document === 'undefined' ? undefined : document);

    this._poll = new Poll<IIntegration[], unknown, 'standby'>({
      name: 'jupyter-creds:integrations',
      factory: () => this._client.listIntegrations(),
      frequency: pollFrequency(options.interval ?? DEFAULT_INTERVAL_SECONDS),
      standby: () => shouldStandby(this._document, this._isViewVisible())
    });
    this._poll.ticked.connect(this._onTick, this);
    this._document?.addEventListener('visibilitychange', this._onVisibility);
  }

  /** Emitted whenever anything the view shows changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get integrations(): readonly IIntegration[] {
    return this._integrations;
  }

  get connection(): ConnectionState {
    return this._connection;
  }

  /** Why the last refresh failed, for a person; null after a success. */
  get lastError(): string | null {
    return this._lastError;
  }

  /** The poll's current phase (for diagnostics and tests). */
  get phase(): IPoll.Phase<'standby'> {
    return this._poll.state.phase;
  }

  /** Refresh interval in seconds. */
  get interval(): number {
    return this._poll.frequency.interval / 1000;
  }
  set interval(seconds: number) {
    this._poll.frequency = pollFrequency(seconds);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  find(id: string): IIntegration | undefined {
    return this._integrations.find(i => i.id === id);
  }

  signInState(id: string): ISignInState {
    return {
      pending: this._pending.has(id),
      error: this._signInErrors.get(id) ?? null
    };
  }

  /**
   * Refresh now, unless nobody can see the list (then the next time the
   * panel or the tab is shown). Resolves once the refresh is scheduled.
   */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /**
   * The integrations, fetched now if the list was never loaded: for commands
   * run from the palette while the panel is closed.
   */
  async ensureLoaded(): Promise<readonly IIntegration[]> {
    if (this._connection !== 'ready') {
      await this.reload();
    }
    return this._integrations;
  }

  /**
   * Fetch the list now, even while the poll stands by (a person asked, e.g.
   * from the command palette with the panel closed).
   */
  async reload(): Promise<void> {
    try {
      this._apply(await this._client.listIntegrations());
    } catch (error) {
      this._connection = isUnreachable(error) ? 'unreachable' : 'failed';
      this._lastError = describeError(error);
      this._changed.emit();
      throw error;
    }
  }

  /** A sign-in window opened for `id`. */
  beginSignIn(id: string): void {
    this._pending.add(id);
    this._signInErrors.delete(id);
    this._changed.emit();
  }

  /**
   * A sign-in ended, as the callback page reported (maybe one started in a
   * kernel or another tab). Shows the result at once and refreshes.
   */
  endSignIn(id: string, ok: boolean, error: string | null): void {
    this._pending.delete(id);
    if (ok) {
      this._signInErrors.delete(id);
      this._patch(id, { status: 'authenticated', error: null });
    } else {
      this._signInErrors.set(id, error || 'The sign-in did not complete.');
    }
    this._changed.emit();
    void this.refresh();
  }

  /** The sign-in window closed without a result: stop waiting. */
  cancelSignIn(id: string): void {
    if (this._pending.delete(id)) {
      this._changed.emit();
      void this.refresh();
    }
  }

  /** Sign out, then show the row signed out at once. */
  async signOut(id: string): Promise<void> {
    await this._client.signOut(id);
    this._signInErrors.delete(id);
    this._patch(id, {
      status: 'not_signed_in',
      error: null,
      account: null,
      expires_at: null
    });
    this._changed.emit();
    void this.refresh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._document?.removeEventListener('visibilitychange', this._onVisibility);
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _onTick(poll: Poll<IIntegration[], unknown, 'standby'>): void {
    const { phase, payload } = poll.state;
    if (phase === 'resolved' || phase === 'reconnected') {
      this._apply((payload as IIntegration[] | null) ?? []);
    } else if (phase === 'rejected') {
      this._connection = isUnreachable(payload) ? 'unreachable' : 'failed';
      this._lastError = describeError(payload);
      this._changed.emit();
    }
  }

  private _apply(integrations: IIntegration[]): void {
    this._integrations = integrations;
    this._connection = 'ready';
    this._lastError = null;
    // A sign-in that finished (here or elsewhere) needs no spinner.
    for (const i of integrations) {
      if (i.status === 'authenticated') {
        this._pending.delete(i.id);
        this._signInErrors.delete(i.id);
      }
    }
    this._changed.emit();
  }

  private _patch(id: string, patch: Partial<IIntegration>): void {
    this._integrations = this._integrations.map(i =>
      i.id === id ? { ...i, ...patch } : i
    );
  }

  private _onVisibility = (): void => {
    if (this._document?.visibilityState === 'visible') {
      void this.refresh();
    }
  };

  private _client: ICredsClient;
  private _isViewVisible: () => boolean;
  private _document: Document | undefined;
  private _poll: Poll<IIntegration[], unknown, 'standby'>;
  private _integrations: IIntegration[] = [];
  private _connection: ConnectionState = 'loading';
  private _lastError: string | null = null;
  private _pending = new Set<string>();
  private _signInErrors = new Map<string, string>();
  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
}
