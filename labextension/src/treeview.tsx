/**
 * The tree of integrations: an ARIA tree with a roving tabindex, arrow keys,
 * Enter to expand or copy, and the context-menu key for JupyterLab's menu.
 */

import {
  caretDownIcon,
  caretRightIcon,
  copyIcon,
  LabIcon
} from '@jupyterlab/ui-components';
import React, { useEffect, useReducer, useRef } from 'react';

import { keyIcon, lockIcon, warningIcon } from './icons';
import { CredentialsModel } from './model';
import {
  detailRows,
  IDetailRow,
  ITreeRow,
  rowStatus,
  sameItem,
  StatusIconName,
  TreeState
} from './tree';
import { IIntegration } from './types';

/** The panel's title, its header and the tree's accessible name. */
export const PANEL_TITLE = 'Available Credentials';

/** What the tree asks of the rest of the extension. */
export interface ITreeActions {
  /** Start a sign-in. Called synchronously inside the click or key handler. */
  signIn(integration: IIntegration): void;
  /** Copy a detail value. */
  copy(label: string, value: string): void;
}

const STATUS_ICONS: Record<StatusIconName, LabIcon> = {
  key: keyIcon,
  lock: lockIcon,
  warning: warningIcon
};

/** The rows of the tree state for the model's integrations. */
function treeRows(integrations: readonly IIntegration[]): ITreeRow[] {
  return integrations.map(i => ({
    id: i.id,
    details: detailRows(i).map(d => d.key)
  }));
}

/** Open JupyterLab's context menu for a tree item, as a right-click would. */
function openContextMenu(target: HTMLElement): void {
  const anchor =
    target.querySelector<HTMLElement>(':scope > .jp-creds-Row') ?? target;
  const rect = anchor.getBoundingClientRect();
  anchor.dispatchEvent(
    new MouseEvent('contextmenu', {
      bubbles: true,
      cancelable: true,
      view: window,
      button: 2,
      clientX: Math.round(rect.left + Math.min(24, rect.width / 2)),
      clientY: Math.round(rect.bottom)
    })
  );
}

export function CredentialsTree(props: {
  model: CredentialsModel;
  state: TreeState;
  actions: ITreeActions;
}): JSX.Element {
  const { model, state, actions } = props;
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const treeRef = useRef<HTMLUListElement>(null);
  const focusActive = useRef(false);

  useEffect(() => {
    const onChanged = () => {
      // Keep the keyboard focus in the tree if a refresh removed its item.
      const tree = treeRef.current;
      if (tree && tree.contains(document.activeElement)) {
        focusActive.current = true;
      }
      state.setRows(treeRows(model.integrations));
      rerender();
    };
    model.changed.connect(onChanged);
    onChanged();
    return () => {
      model.changed.disconnect(onChanged);
    };
  }, [model, state]);

  useEffect(() => {
    if (!focusActive.current) {
      return;
    }
    focusActive.current = false;
    const item = treeRef.current?.querySelector<HTMLElement>(
      '[role="treeitem"][tabindex="0"]'
    );
    if (item && item !== document.activeElement) {
      item.focus();
    }
  });

  const changed = (focus = true) => {
    focusActive.current = focus;
    rerender();
  };

  const onKeyDown = (event: React.KeyboardEvent) => {
    const active = state.active;
    if (!active) {
      return;
    }
    const onButton = (event.target as Element).closest('button') !== null;
    const integration = model.find(active.id);
    switch (event.key) {
      case 'ArrowDown':
        state.move(1);
        break;
      case 'ArrowUp':
        state.move(-1);
        break;
      case 'Home':
        state.moveToEdge('first');
        break;
      case 'End':
        state.moveToEdge('last');
        break;
      case 'ArrowRight':
        state.right();
        break;
      case 'ArrowLeft':
        state.left();
        break;
      case 'Enter':
      case ' ':
        if (onButton) {
          return; // the button's own click
        }
        if (active.detail === null) {
          state.focus(active);
          state.toggle(active.id);
        } else if (event.key === 'Enter' && integration) {
          const detail = detailRows(integration).find(
            d => d.key === active.detail
          );
          if (detail?.copyable) {
            actions.copy(detail.label, detail.value);
          }
        }
        break;
      case 'F10':
        if (!event.shiftKey) {
          return;
        }
      // Shift+F10: the context menu, as the ContextMenu key.
      // falls through
      case 'ContextMenu': {
        state.focus(active);
        const item = treeRef.current?.querySelector<HTMLElement>(
          '[role="treeitem"][tabindex="0"]'
        );
        event.preventDefault();
        event.stopPropagation();
        changed();
        if (item) {
          openContextMenu(item);
        }
        return;
      }
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
    changed();
  };

  const integrations = model.integrations;
  const connection = model.connection;

  if (connection === 'unreachable') {
    return (
      <div
        className="jp-creds-Panel-message jp-mod-unreachable"
        role="status"
        data-connection="unreachable"
      >
        <warningIcon.react tag="span" className="jp-creds-Panel-messageIcon" />
        <span>Can't reach the Jupyter server; retrying…</span>
      </div>
    );
  }
  if (connection === 'failed') {
    return (
      <div
        className="jp-creds-Panel-message jp-mod-error"
        role="alert"
        data-connection="failed"
      >
        <warningIcon.react tag="span" className="jp-creds-Panel-messageIcon" />
        <span>
          Couldn't load the integrations: {model.lastError ?? 'unknown error'}{' '}
          Retrying…
        </span>
      </div>
    );
  }
  if (connection === 'loading') {
    return (
      <div
        className="jp-creds-Panel-message"
        role="status"
        data-connection="loading"
      >
        Loading integrations…
      </div>
    );
  }
  if (integrations.length === 0) {
    return (
      <div
        className="jp-creds-Panel-message"
        role="status"
        data-connection="ready"
      >
        No integrations are configured. Ask your administrator to add some.
      </div>
    );
  }

  return (
    <ul
      ref={treeRef}
      className="jp-creds-Tree"
      role="tree"
      aria-label={PANEL_TITLE}
      data-connection="ready"
      onKeyDown={onKeyDown}
    >
      {integrations.map(integration => (
        <IntegrationItem
          key={integration.id}
          integration={integration}
          model={model}
          state={state}
          actions={actions}
          changed={changed}
        />
      ))}
    </ul>
  );
}

function IntegrationItem(props: {
  integration: IIntegration;
  model: CredentialsModel;
  state: TreeState;
  actions: ITreeActions;
  changed: (focus?: boolean) => void;
}): JSX.Element {
  const { integration, model, state, actions, changed } = props;
  const id = integration.id;
  const status = rowStatus(integration, model.signInState(id));
  const expanded = state.isExpanded(id);
  const rowActive = sameItem(state.active, { id, detail: null });
  const selected = state.selected === id;
  const Icon = STATUS_ICONS[status.icon];
  const Chevron = expanded ? caretDownIcon : caretRightIcon;
  const messageId = `jp-creds-message-${id}`;

  const onRowClick = (event: React.MouseEvent) => {
    if ((event.target as Element).closest('button')) {
      return;
    }
    state.focus({ id, detail: null });
    state.toggle(id);
    changed();
  };

  // No stopPropagation here: JupyterLab opens its menu from `document`.
  const onContextMenu = (event: React.MouseEvent) => {
    const detail = (event.target as Element)
      .closest('[data-detail]')
      ?.getAttribute('data-detail');
    state.focus({ id, detail: detail ?? null });
    changed(false);
  };

  return (
    <li
      className={
        'jp-creds-Tree-item' +
        (selected ? ' jp-mod-selected' : '') +
        (status.pending ? ' jp-mod-pending' : '')
      }
      role="treeitem"
      aria-level={1}
      aria-expanded={expanded}
      aria-selected={selected}
      aria-label={`${integration.display_name}, ${status.pending ? 'signing in' : status.label}`}
      aria-describedby={status.message ? messageId : undefined}
      tabIndex={rowActive ? 0 : -1}
      data-integration-id={id}
      data-status={status.status}
      data-pending={status.pending ? 'true' : undefined}
      onContextMenu={onContextMenu}
    >
      <div className="jp-creds-Row" title={status.tooltip} onClick={onRowClick}>
        <Chevron.react
          tag="span"
          className="jp-creds-Row-chevron"
          aria-hidden="true"
        />
        {/* No title of its own: pointing at the icon shows the row's tooltip,
            with the error's reason (an icon title would hide it). */}
        <span
          className="jp-creds-Row-status"
          role="img"
          aria-label={status.label}
          data-icon={status.icon}
        >
          <Icon.react tag="span" />
        </span>
        <span className="jp-creds-Row-name">{integration.display_name}</span>
        {status.description && (
          <span className="jp-creds-Row-description">{status.description}</span>
        )}
        {status.canSignIn && (
          <button
            type="button"
            className="jp-creds-Row-signIn"
            tabIndex={rowActive ? 0 : -1}
            disabled={status.pending}
            aria-label={`Sign in to ${integration.display_name}`}
            onClick={() => actions.signIn(integration)}
          >
            {status.pending ? 'Signing in…' : 'Sign In'}
          </button>
        )}
      </div>
      {status.message && (
        <div
          id={messageId}
          className={
            'jp-creds-Row-message' +
            (status.messageIsError ? ' jp-mod-error' : '')
          }
        >
          {status.message}
        </div>
      )}
      {expanded && (
        <ul className="jp-creds-Details" role="group">
          {detailRows(integration).map(detail => (
            <DetailItem
              key={detail.key}
              id={id}
              detail={detail}
              active={sameItem(state.active, { id, detail: detail.key })}
              onFocus={() => {
                state.focus({ id, detail: detail.key });
                changed();
              }}
              copy={() => actions.copy(detail.label, detail.value)}
            />
          ))}
        </ul>
      )}
    </li>
  );
}

function DetailItem(props: {
  id: string;
  detail: IDetailRow;
  active: boolean;
  onFocus: () => void;
  copy: () => void;
}): JSX.Element {
  const { detail, active } = props;
  return (
    <li
      className={'jp-creds-Detail' + (detail.copyable ? '' : ' jp-mod-unset')}
      role="treeitem"
      aria-level={2}
      aria-label={`${detail.label}: ${detail.value}`}
      tabIndex={active ? 0 : -1}
      data-detail={detail.key}
      onClick={event => {
        if (!(event.target as Element).closest('button')) {
          props.onFocus();
        }
      }}
    >
      <span className="jp-creds-Detail-label">{detail.label}</span>
      <span className="jp-creds-Detail-value" title={detail.value}>
        {detail.value}
      </span>
      {detail.copyable && (
        <button
          type="button"
          className="jp-creds-Detail-copy"
          aria-label={`Copy ${detail.label}`}
          title="Copy Value"
          tabIndex={active ? 0 : -1}
          onClick={props.copy}
        >
          <copyIcon.react tag="span" />
        </button>
      )}
    </li>
  );
}
