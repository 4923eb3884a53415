/**
 * Put a snippet into a notebook as a new code cell, for the insert command
 * and for the page-wide `jupyter-creds:insert-snippet` event (DESIGN.md).
 */

import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

/** Asks for a snippet cell: `{detail: {code, language}}`. */
export const INSERT_EVENT = 'jupyter-creds:insert-snippet';

/** Answers an INSERT_EVENT: `{detail: {ok, error}}`. */
export const INSERT_DONE_EVENT = 'jupyter-creds:insert-snippet:done';

export interface IInsertResult {
  ok: boolean;
  error: string | null;
}

/**
 * Insert `code` as a code cell below the active cell of the current notebook,
 * or, when `target` is inside a notebook cell (e.g. a widget in its output),
 * below that cell.
 */
export function insertCodeCell(
  tracker: INotebookTracker | null,
  code: string,
  target: EventTarget | null = null,
  activate?: (panel: NotebookPanel) => void
): IInsertResult {
  if (!tracker) {
    return fail('Notebooks are not available in this application.');
  }
  const node = target instanceof Node ? target : null;
  const panel =
    (node && tracker.find(p => p.node.contains(node))) || tracker.currentWidget;
  if (!panel) {
    return fail('Open a notebook to insert the snippet into.');
  }
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return fail('The notebook is still loading; try again in a moment.');
  }
  if (model.readOnly) {
    return fail('The notebook is read-only.');
  }

  const cells = notebook.widgets;
  const holder = node
    ? cells.find(cell => cell.node.contains(node))
    : undefined;
  const below = holder
    ? cells.indexOf(holder)
    : notebook.activeCell
      ? notebook.activeCellIndex
      : -1;
  const index = below + 1;

  model.sharedModel.insertCell(index, {
    cell_type: 'code',
    // A generated snippet ends with a newline; a cell needs none.
    source: code.replace(/\n+$/, ''),
    metadata: {}
  });
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  const cell = notebook.activeCell;
  if (cell) {
    void notebook.scrollToCell(cell);
  }
  activate?.(panel);
  return { ok: true, error: null };
}

/**
 * Answer `jupyter-creds:insert-snippet` events dispatched on `window` (or on
 * any element, bubbling up to it) with a cell and a `...:done` event.
 */
export function listenForInsertRequests(
  tracker: INotebookTracker | null,
  activate?: (panel: NotebookPanel) => void,
  win: Window = window
): IDisposable {
  const onRequest = (event: Event) => {
    const detail = (event as CustomEvent).detail;
    let result: IInsertResult;
    if (!detail || typeof detail.code !== 'string') {
      result = fail(
        'The insert-snippet event needs {detail: {code, language}}.'
      );
    } else {
      try {
        result = insertCodeCell(tracker, detail.code, event.target, activate);
      } catch (error) {
        result = fail(error instanceof Error ? error.message : String(error));
      }
    }
    win.dispatchEvent(new CustomEvent(INSERT_DONE_EVENT, { detail: result }));
  };
  win.addEventListener(INSERT_EVENT, onRequest);
  let disposed = false;
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        win.removeEventListener(INSERT_EVENT, onRequest);
      }
    }
  };
}

function fail(error: string): IInsertResult {
  return { ok: false, error };
}
