/**
 * The "Available Credentials" sidebar: a header, a toolbar with Refresh, and
 * the tree of integrations (treeview.tsx).
 */

import {
  ReactWidget,
  refreshIcon,
  SidePanel,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';
import React from 'react';

import { keyIcon } from './icons';
import { CredentialsModel } from './model';
import { TreeState } from './tree';
import { CredentialsTree, ITreeActions, PANEL_TITLE } from './treeview';

/** The sidebar's widget id (also its layout-restorer key). */
export const PANEL_ID = 'jupyter-creds:sidebar';

export namespace CredentialsPanel {
  export interface IOptions {
    model: CredentialsModel;
    actions: ITreeActions;
  }
}

export class CredentialsPanel extends SidePanel {
  constructor(options: CredentialsPanel.IOptions) {
    super({ content: new Panel() });
    this._model = options.model;
    this.id = PANEL_ID;
    this.addClass('jp-creds-Panel');
    this.title.icon = keyIcon;
    this.title.caption = PANEL_TITLE;

    const heading = document.createElement('h2');
    heading.textContent = PANEL_TITLE;
    heading.classList.add('jp-text-truncated');
    this.header.addWidget(new Widget({ node: heading }));

    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh Available Credentials',
        className: 'jp-creds-Panel-refresh',
        onClick: () => void this._model.refresh()
      })
    );

    const view = ReactWidget.create(
      <CredentialsTree
        model={this._model}
        state={this.tree}
        actions={options.actions}
      />
    );
    view.addClass('jp-creds-Panel-body');
    this.content.addWidget(view);
  }

  /** Expansion, focus and selection of the tree. */
  readonly tree = new TreeState();

  /** The integration a person selected in the tree, if any. */
  get selectedId(): string | null {
    return this.tree.selected;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    // The poll stood by while hidden: catch up at once.
    void this._model.refresh();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      void this._model.refresh();
    }
  }

  private _model: CredentialsModel;
}
