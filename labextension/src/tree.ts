/**
 * The view model of the credentials tree: what each row says, which details
 * it expands to, and where the keyboard focus and the selection are.
 *
 * Pure TypeScript (no DOM, no JupyterLab) so it is unit-tested on its own.
 */

import { IIntegration, IntegrationStatus } from './types';

/** Which icon a status is drawn with. */
export type StatusIconName = 'key' | 'lock' | 'warning';

/** What a row shows for its integration's status. */
export interface IRowStatus {
  status: IntegrationStatus;
  icon: StatusIconName;
  /** The status in words: the icon's accessible name. */
  label: string;
  /** Muted text after the name: the Integration ID when authenticated. */
  description: string;
  /** The row's tooltip. */
  tooltip: string;
  /** A line under the row: a pending sign-in, or why it failed or is needed. */
  message: string;
  /** Whether `message` reports a problem. */
  messageIsError: boolean;
  /** Whether the row offers a Sign In button. */
  canSignIn: boolean;
  /** Whether a sign-in for this row is waiting for the provider. */
  pending: boolean;
}

/** Per-row sign-in state the browser keeps (the server does not know it). */
export interface ISignInState {
  pending: boolean;
  /** The provider's (or server's) reason when the last sign-in failed. */
  error: string | null;
}

const STATUS_LABELS: Record<IntegrationStatus, string> = {
  authenticated: 'Authenticated',
  not_signed_in: 'Not signed in',
  config_error: 'Configuration error'
};

const STATUS_ICONS: Record<IntegrationStatus, StatusIconName> = {
  authenticated: 'key',
  not_signed_in: 'lock',
  config_error: 'warning'
};

/** The words for a status, for labels and tooltips. */
export function statusLabel(status: IntegrationStatus): string {
  return STATUS_LABELS[status] ?? status;
}

/** Map an integration (and any sign-in in progress) to what its row shows. */
export function rowStatus(
  integration: IIntegration,
  signIn: ISignInState = { pending: false, error: null }
): IRowStatus {
  const status = integration.status;
  const label = statusLabel(status);
  const tooltip: string[] = [integration.display_name];
  let description = '';
  let message = '';
  let messageIsError = false;

  switch (status) {
    case 'authenticated':
      description = integration.id;
      tooltip.push(
        integration.account ? `${label} as ${integration.account}` : label,
        `Integration ID: ${integration.id}`
      );
      break;
    case 'config_error':
      tooltip.push(
        integration.error ? `${label}: ${integration.error}` : label
      );
      break;
    default:
      tooltip.push(label);
      if (integration.error) {
        tooltip.push(integration.error);
        message = integration.error;
      }
  }

  const pending = signIn.pending && status !== 'config_error';
  if (pending) {
    message = 'Signing in… finish in the browser window that opened.';
    messageIsError = false;
  } else if (signIn.error && status !== 'authenticated') {
    message = `Sign-in failed: ${signIn.error}`;
    messageIsError = true;
  }

  return {
    status,
    icon: STATUS_ICONS[status] ?? 'warning',
    label,
    description,
    tooltip: tooltip.join('\n'),
    message,
    messageIsError,
    canSignIn: status === 'not_signed_in',
    pending
  };
}

/** One line of an expanded row. */
export interface IDetailRow {
  /** Stable key, the REST field name. */
  key: string;
  /** What it is, for a person: "Integration ID". */
  label: string;
  /** What is shown and what Copy Value copies. */
  value: string;
  /** False for values the integration does not have. */
  copyable: boolean;
}

/** The text shown for a value an integration does not have. */
export const NOT_SET = 'Not set';

/** Format an epoch-seconds time as local time. */
export function formatExpiry(epochSeconds: number, now = Date.now()): string {
  const when = new Date(epochSeconds * 1000);
  const text = when.toLocaleString();
  return epochSeconds * 1000 <= now ? `${text} (expired)` : text;
}

/**
 * The details an expanded row shows, in the reference's order; the account
 * and token expiry only while signed in.
 */
export function detailRows(
  integration: IIntegration,
  formatTime: (epochSeconds: number) => string = formatExpiry
): IDetailRow[] {
  const row = (key: string, label: string, value: string | null) => {
    const text = (value ?? '').trim();
    return {
      key,
      label,
      value: text || NOT_SET,
      copyable: text.length > 0
    };
  };
  const rows = [
    row('id', 'Integration ID', integration.id),
    row('issuer', 'Issuer', integration.issuer),
    row('client_id', 'Client ID', integration.client_id),
    row('scopes', 'Scopes', (integration.scopes ?? []).join(' ')),
    row('auth_url', 'Auth URL', integration.auth_url),
    row('token_url', 'Token URL', integration.token_url)
  ];
  if (integration.status === 'authenticated') {
    rows.push(row('account', 'Account', integration.account));
    rows.push(
      row(
        'expires_at',
        'Token Expires',
        integration.expires_at === null || integration.expires_at === undefined
          ? null
          : formatTime(integration.expires_at)
      )
    );
  }
  return rows;
}

/** An item of the tree: a row (`detail` null) or one of its detail lines. */
export interface ITreeItem {
  id: string;
  detail: string | null;
}

/** Whether two tree items are the same item. */
export function sameItem(a: ITreeItem | null, b: ITreeItem | null): boolean {
  return !!a && !!b && a.id === b.id && a.detail === b.detail;
}

/** The keys a tree state needs of each row: its id and its details' keys. */
export interface ITreeRow {
  id: string;
  details: string[];
}

/**
 * Expansion, keyboard focus (the roving tabindex) and selection.
 *
 * The *active* item is the tree's one tab stop; the *selection* is the
 * integration a person last chose (click, keys, right-click), which commands
 * run without asking. A tree nobody touched has no selection.
 */
export class TreeState {
  /** The rows, in order. */
  get rows(): readonly ITreeRow[] {
    return this._rows;
  }

  /** The item that has tabindex 0. */
  get active(): ITreeItem | null {
    return this._active;
  }

  /** The selected integration id, if a person chose one. */
  get selected(): string | null {
    return this._selected;
  }

  isExpanded(id: string): boolean {
    return this._expanded.has(id);
  }

  /** Replace the rows (after a refresh), keeping what still exists. */
  setRows(rows: ITreeRow[]): void {
    this._rows = rows.map(r => ({ id: r.id, details: [...r.details] }));
    const ids = new Set(this._rows.map(r => r.id));
    for (const id of [...this._expanded]) {
      if (!ids.has(id)) {
        this._expanded.delete(id);
      }
    }
    if (this._selected !== null && !ids.has(this._selected)) {
      this._selected = null;
    }
    this._active = this._fixActive(this._active);
  }

  /** The items a person can see, top to bottom. */
  visibleItems(): ITreeItem[] {
    const items: ITreeItem[] = [];
    for (const row of this._rows) {
      items.push({ id: row.id, detail: null });
      if (this._expanded.has(row.id)) {
        for (const detail of row.details) {
          items.push({ id: row.id, detail });
        }
      }
    }
    return items;
  }

  /** Make an item active and select its integration. */
  focus(item: ITreeItem): void {
    if (!this._rows.some(r => r.id === item.id)) {
      return;
    }
    const fixed = this._fixActive(item);
    if (fixed) {
      this._active = fixed;
      this._selected = fixed.id;
    }
  }

  /** Select an integration (e.g. on right-click) and make its row active. */
  select(id: string): void {
    this.focus({ id, detail: null });
  }

  /** Forget the selection (the active item stays the tab stop). */
  clearSelection(): void {
    this._selected = null;
  }

  expand(id: string): void {
    if (this._rows.some(r => r.id === id)) {
      this._expanded.add(id);
    }
  }

  collapse(id: string): void {
    this._expanded.delete(id);
    if (this._active && this._active.id === id) {
      this._active = { id, detail: null };
    }
  }

  toggle(id: string): void {
    if (this.isExpanded(id)) {
      this.collapse(id);
    } else {
      this.expand(id);
    }
  }

  /** ArrowDown / ArrowUp: move by `delta` visible items, stopping at the ends. */
  move(delta: number): void {
    const items = this.visibleItems();
    if (items.length === 0) {
      return;
    }
    const index = items.findIndex(i => sameItem(i, this._active));
    const next =
      index < 0
        ? delta > 0
          ? 0
          : items.length - 1
        : Math.max(0, Math.min(items.length - 1, index + delta));
    this.focus(items[next]);
  }

  /** Home / End. */
  moveToEdge(edge: 'first' | 'last'): void {
    const items = this.visibleItems();
    if (items.length > 0) {
      this.focus(items[edge === 'first' ? 0 : items.length - 1]);
    }
  }

  /**
   * ArrowRight: expand a collapsed row; on an expanded row, go to its first
   * detail.
   */
  right(): void {
    const active = this._active;
    if (!active || active.detail !== null) {
      return;
    }
    this._selected = active.id;
    if (!this.isExpanded(active.id)) {
      this.expand(active.id);
      return;
    }
    const row = this._rows.find(r => r.id === active.id);
    if (row && row.details.length > 0) {
      this.focus({ id: row.id, detail: row.details[0] });
    }
  }

  /** ArrowLeft: collapse an expanded row; on a detail, go to its row. */
  left(): void {
    const active = this._active;
    if (!active) {
      return;
    }
    this._selected = active.id;
    if (active.detail !== null) {
      this.focus({ id: active.id, detail: null });
    } else {
      this.collapse(active.id);
    }
  }

  /** The item to make active: `item` when it is visible, else its row, else the first row. */
  private _fixActive(item: ITreeItem | null): ITreeItem | null {
    const items = this.visibleItems();
    if (item) {
      if (items.some(i => sameItem(i, item))) {
        return { ...item };
      }
      if (this._rows.some(r => r.id === item.id)) {
        return { id: item.id, detail: null };
      }
    }
    return items.length > 0 ? items[0] : null;
  }

  private _rows: ITreeRow[] = [];
  private _expanded = new Set<string>();
  private _active: ITreeItem | null = null;
  private _selected: string | null = null;
}
