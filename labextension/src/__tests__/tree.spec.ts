import {
  detailRows,
  formatExpiry,
  NOT_SET,
  rowStatus,
  TreeState
} from '../tree';
import { integration } from './fixtures';

describe('rowStatus', () => {
  it('shows an authenticated integration with the key icon and its id as description', () => {
    const item = integration({ status: 'authenticated', account: 'alice' });
    const row = rowStatus(item);
    expect(row.icon).toBe('key');
    expect(row.label).toBe('Authenticated');
    expect(row.description).toBe(item.id);
    expect(row.canSignIn).toBe(false);
    expect(row.tooltip).toContain('Authenticated as alice');
  });

  it('offers Sign In on a row that is not signed in, with the lock icon', () => {
    const row = rowStatus(integration());
    expect(row.icon).toBe('lock');
    expect(row.label).toBe('Not signed in');
    expect(row.description).toBe('');
    expect(row.canSignIn).toBe(true);
    expect(row.message).toBe('');
  });

  it('says why a sign-in is needed again', () => {
    const row = rowStatus(
      integration({ error: 'The provider revoked the grant: sign in again.' })
    );
    expect(row.message).toBe('The provider revoked the grant: sign in again.');
    expect(row.tooltip).toContain('revoked the grant');
  });

  it('puts a configuration error in the tooltip and offers no Sign In', () => {
    const row = rowStatus(
      integration({
        status: 'config_error',
        error: 'client_secret_env SNOWFLAKE_SECRET is not set'
      })
    );
    expect(row.icon).toBe('warning');
    expect(row.label).toBe('Configuration error');
    expect(row.description).toBe('');
    expect(row.canSignIn).toBe(false);
    expect(row.tooltip).toContain(
      'Configuration error: client_secret_env SNOWFLAKE_SECRET is not set'
    );
  });

  it('shows a pending sign-in, then the provider’s reason when it fails', () => {
    const item = integration();
    const pending = rowStatus(item, { pending: true, error: null });
    expect(pending.pending).toBe(true);
    expect(pending.message).toMatch(/^Signing in…/);
    expect(pending.messageIsError).toBe(false);

    const failed = rowStatus(item, { pending: false, error: 'access_denied' });
    expect(failed.pending).toBe(false);
    expect(failed.message).toBe('Sign-in failed: access_denied');
    expect(failed.messageIsError).toBe(true);
  });

  it('forgets a failed sign-in once the integration is authenticated', () => {
    const row = rowStatus(integration({ status: 'authenticated' }), {
      pending: false,
      error: 'access_denied'
    });
    expect(row.message).toBe('');
  });
});

describe('detailRows', () => {
  it('lists the six configuration details, scopes joined with spaces', () => {
    const rows = detailRows(integration());
    expect(rows.map(r => r.label)).toEqual([
      'Integration ID',
      'Issuer',
      'Client ID',
      'Scopes',
      'Auth URL',
      'Token URL'
    ]);
    expect(rows.find(r => r.key === 'scopes')?.value).toBe(
      'openid offline_access session:role:analyst'
    );
    expect(rows.every(r => r.copyable)).toBe(true);
  });

  it('adds the account and token expiry when signed in', () => {
    const rows = detailRows(
      integration({
        status: 'authenticated',
        account: 'alice@example.com',
        expires_at: 1700000000
      }),
      seconds => `at ${seconds}`
    );
    expect(rows.slice(-2)).toEqual([
      {
        key: 'account',
        label: 'Account',
        value: 'alice@example.com',
        copyable: true
      },
      {
        key: 'expires_at',
        label: 'Token Expires',
        value: 'at 1700000000',
        copyable: true
      }
    ]);
  });

  it('marks missing values as not set and not copyable', () => {
    const rows = detailRows(
      integration({ status: 'config_error', issuer: '', scopes: [] })
    );
    const issuer = rows.find(r => r.key === 'issuer');
    expect(issuer).toEqual({
      key: 'issuer',
      label: 'Issuer',
      value: NOT_SET,
      copyable: false
    });
    expect(rows.find(r => r.key === 'scopes')?.copyable).toBe(false);
  });

  it('formats the expiry as local time and flags an expired token', () => {
    const seconds = 1700000000;
    const local = new Date(seconds * 1000).toLocaleString();
    expect(formatExpiry(seconds, seconds * 1000 - 1)).toBe(local);
    expect(formatExpiry(seconds, seconds * 1000 + 1)).toBe(
      `${local} (expired)`
    );
  });
});

describe('TreeState', () => {
  const rows = [
    { id: 'a', details: ['id', 'issuer'] },
    { id: 'b', details: ['id'] },
    { id: 'c', details: ['id'] }
  ];

  function tree(): TreeState {
    const state = new TreeState();
    state.setRows(rows);
    return state;
  }

  it('starts with the first row as the tab stop and nothing selected', () => {
    const state = tree();
    expect(state.active).toEqual({ id: 'a', detail: null });
    expect(state.selected).toBeNull();
  });

  it('moves with the arrow keys and selects what it lands on', () => {
    const state = tree();
    state.move(1);
    expect(state.active).toEqual({ id: 'b', detail: null });
    expect(state.selected).toBe('b');
    state.move(5);
    expect(state.active).toEqual({ id: 'c', detail: null });
    state.move(-1);
    expect(state.active).toEqual({ id: 'b', detail: null });
    state.moveToEdge('first');
    expect(state.active).toEqual({ id: 'a', detail: null });
  });

  it('expands with ArrowRight, enters the details, and comes back with ArrowLeft', () => {
    const state = tree();
    state.right();
    expect(state.isExpanded('a')).toBe(true);
    expect(state.visibleItems()).toHaveLength(5);
    state.right();
    expect(state.active).toEqual({ id: 'a', detail: 'id' });
    state.move(1);
    expect(state.active).toEqual({ id: 'a', detail: 'issuer' });
    state.move(1);
    expect(state.active).toEqual({ id: 'b', detail: null });
    state.move(-1);
    state.left();
    expect(state.active).toEqual({ id: 'a', detail: null });
    expect(state.isExpanded('a')).toBe(true);
    state.left();
    expect(state.isExpanded('a')).toBe(false);
    expect(state.visibleItems()).toHaveLength(3);
  });

  it('moves the focus to the row when its details collapse', () => {
    const state = tree();
    state.expand('a');
    state.focus({ id: 'a', detail: 'issuer' });
    state.toggle('a');
    expect(state.active).toEqual({ id: 'a', detail: null });
  });

  it('keeps expansion and selection across refreshes, dropping what is gone', () => {
    const state = tree();
    state.expand('a');
    state.expand('b');
    state.focus({ id: 'a', detail: 'issuer' });
    state.setRows([
      { id: 'a', details: ['id'] },
      { id: 'c', details: ['id'] }
    ]);
    expect(state.isExpanded('a')).toBe(true);
    expect(state.isExpanded('b')).toBe(false);
    // The detail went away (e.g. signed out): focus falls back to its row.
    expect(state.active).toEqual({ id: 'a', detail: null });
    expect(state.selected).toBe('a');

    state.setRows([{ id: 'c', details: ['id'] }]);
    expect(state.selected).toBeNull();
    expect(state.active).toEqual({ id: 'c', detail: null });
  });

  it('selects a row on right-click and can forget the selection', () => {
    const state = tree();
    state.select('c');
    expect(state.selected).toBe('c');
    expect(state.active).toEqual({ id: 'c', detail: null });
    state.clearSelection();
    expect(state.selected).toBeNull();
    state.select('nope');
    expect(state.selected).toBeNull();
  });

  it('has nothing to focus when there are no rows', () => {
    const state = new TreeState();
    state.setRows([]);
    state.move(1);
    state.right();
    expect(state.active).toBeNull();
  });
});
