/**
 * The extension's commands: the palette's four ("Credentials" category) and
 * the row commands of the tree's context menu.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification
} from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { copyText } from './clipboard';
import { describeError } from './errors';
import { insertCodeCell, IInsertResult } from './insert';
import { CredentialsModel } from './model';
import { CredentialsPanel } from './panel';
import { SignInFlow } from './signin';
import { createSnippetWidget, snippetWidgetId } from './snippet';
import {
  ICredsClient,
  IIntegration,
  isSnippetLanguage,
  ISnippet,
  LANGUAGE_LABELS,
  SnippetLanguage
} from './types';

export namespace CommandIDs {
  export const refresh = 'jupyter-creds:refresh';
  export const viewSnippet = 'jupyter-creds:view-snippet';
  export const copySnippet = 'jupyter-creds:copy-snippet';
  export const insertSnippet = 'jupyter-creds:insert-snippet';
  export const signIn = 'jupyter-creds:sign-in';
  export const signOut = 'jupyter-creds:sign-out';
}

/** The command palette category. */
export const PALETTE_CATEGORY = 'Credentials';

/** The context menu's selector: a tree row, which names its integration. */
export const ROW_SELECTOR = '.jp-creds-Tree-item[data-integration-id]';

export interface ICommandContext {
  app: JupyterFrontEnd;
  model: CredentialsModel;
  panel: CredentialsPanel;
  client: ICredsClient;
  signIn: SignInFlow;
  palette: ICommandPalette | null;
  notebooks: INotebookTracker | null;
  editorServices: IEditorServices | null;
}

/**
 * Command args: `id` (integration GUID), `language` ('python' | 'r'), `code`
 * (insert-snippet only: insert this code as is). Context-menu items pass
 * `contextMenu: true`, so the row right-clicked is the target.
 */
export function addCommands(ctx: ICommandContext): void {
  const { app, model, panel, client } = ctx;
  const { commands } = app;

  const rowOfContextMenu = (): string | null =>
    app.contextMenuHitTest(node => !!node.dataset.integrationId)?.dataset
      .integrationId ?? null;

  /** The integration a command is about, without asking. */
  const targetId = (args: ReadonlyPartialJSONObject): string | null => {
    if (typeof args.id === 'string' && args.id) {
      return args.id;
    }
    if (args.contextMenu) {
      return rowOfContextMenu();
    }
    return panel.selectedId;
  };

  const targetOf = (args: ReadonlyPartialJSONObject) => {
    const id = targetId(args);
    return id ? model.find(id) : undefined;
  };

  /** The integration a command is about, asking when nothing says. */
  const resolveIntegration = async (
    args: ReadonlyPartialJSONObject
  ): Promise<IIntegration | null> => {
    const id = targetId(args);
    if (id) {
      const known =
        model.find(id) ?? (await model.ensureLoaded(), model.find(id));
      if (!known) {
        throw new Error(`No integration has the id ${id}.`);
      }
      return known;
    }
    return askIntegration(model);
  };

  const resolveLanguage = async (
    args: ReadonlyPartialJSONObject
  ): Promise<SnippetLanguage | null> =>
    isSnippetLanguage(args.language) ? args.language : askLanguage();

  /** Integration and snippet for a snippet command, or null if cancelled. */
  const fetchSnippet = async (
    args: ReadonlyPartialJSONObject
  ): Promise<{ integration: IIntegration; snippet: ISnippet } | null> => {
    const integration = await resolveIntegration(args);
    if (!integration) {
      return null;
    }
    const language = await resolveLanguage(args);
    if (!language) {
      return null;
    }
    const snippet = await client.snippet(integration.id, language);
    return { integration, snippet };
  };

  const snippetLabel = (verb: string) => (args: ReadonlyPartialJSONObject) =>
    isSnippetLanguage(args.language)
      ? `${verb} ${LANGUAGE_LABELS[args.language]} Snippet`
      : `${verb} Credential Code Snippet`;

  /** Snippet items show on authenticated rows only. */
  const snippetVisible = (args: ReadonlyPartialJSONObject) =>
    !args.contextMenu || targetOf(args)?.status === 'authenticated';

  const reportError = (what: string) => (error: unknown) => {
    Notification.error(`${what}: ${describeError(error)}`, { autoClose: 8000 });
  };

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Available Credentials',
    caption: 'Fetch the integrations and their status now',
    execute: async () => {
      // Hidden panel: the poll stands by, so fetch directly.
      if (panel.isVisible) {
        await model.refresh();
      } else {
        await model.reload();
      }
    }
  });

  commands.addCommand(CommandIDs.viewSnippet, {
    label: snippetLabel('View'),
    caption: 'Open the generated code snippet in a read-only tab',
    isVisible: snippetVisible,
    execute: async args => {
      try {
        const found = await fetchSnippet(args);
        if (!found) {
          return;
        }
        const { integration, snippet } = found;
        const id = snippetWidgetId(integration.id, snippet.language);
        const open = Array.from(app.shell.widgets('main')).find(
          w => w.id === id
        );
        open?.dispose(); // the integration may have changed: show it fresh
        const widget = createSnippetWidget({
          integrationId: integration.id,
          displayName: integration.display_name,
          snippet,
          copy: () =>
            void copyText(
              snippet.code,
              `the ${LANGUAGE_LABELS[snippet.language]} snippet`
            ),
          editorServices: ctx.editorServices
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget as MainAreaWidget;
      } catch (error) {
        reportError("Couldn't show the snippet")(error);
      }
    }
  });

  commands.addCommand(CommandIDs.copySnippet, {
    label: snippetLabel('Copy'),
    caption: 'Copy the generated code snippet to the clipboard',
    isVisible: snippetVisible,
    execute: async args => {
      try {
        const found = await fetchSnippet(args);
        if (found) {
          await copyText(
            found.snippet.code,
            `the ${LANGUAGE_LABELS[found.snippet.language]} snippet`
          );
        }
      } catch (error) {
        reportError("Couldn't copy the snippet")(error);
      }
    }
  });

  const activateNotebook = (notebook: NotebookPanel) =>
    app.shell.activateById(notebook.id);

  commands.addCommand(CommandIDs.insertSnippet, {
    label: snippetLabel('Insert'),
    caption:
      'Insert the generated code snippet as a code cell below the active cell',
    isVisible: snippetVisible,
    execute: async (args): Promise<IInsertResult> => {
      let result: IInsertResult;
      try {
        if (typeof args.code === 'string') {
          result = insertCodeCell(
            ctx.notebooks,
            args.code,
            null,
            activateNotebook
          );
        } else {
          const found = await fetchSnippet(args);
          if (!found) {
            return { ok: false, error: 'Cancelled.' };
          }
          result = insertCodeCell(
            ctx.notebooks,
            found.snippet.code,
            null,
            activateNotebook
          );
        }
      } catch (error) {
        result = { ok: false, error: describeError(error) };
      }
      if (!result.ok) {
        Notification.error(`Couldn't insert the snippet: ${result.error}`, {
          autoClose: 8000
        });
      }
      return result;
    }
  });

  commands.addCommand(CommandIDs.signIn, {
    label: 'Sign In',
    caption: 'Sign in to this integration in a new browser window',
    isVisible: args => {
      const target = targetOf(args);
      return !target || target.status === 'not_signed_in';
    },
    isEnabled: args => {
      const target = targetOf(args);
      return !target || !model.signInState(target.id).pending;
    },
    // Synchronous when the target is known: the window must open inside the
    // click or key handler that runs this command.
    execute: args => {
      const target = targetOf(args);
      if (target) {
        ctx.signIn.start(target.id, target.display_name);
        return;
      }
      return askIntegration(model, i => i.status === 'not_signed_in')
        .then(chosen => {
          if (chosen) {
            ctx.signIn.start(chosen.id, chosen.display_name);
          }
        })
        .catch(reportError("Couldn't start the sign-in"));
    }
  });

  commands.addCommand(CommandIDs.signOut, {
    label: 'Sign Out',
    caption: 'Forget this integration’s tokens and revoke them',
    isVisible: args => {
      const target = targetOf(args);
      return !target || target.status === 'authenticated';
    },
    execute: async args => {
      try {
        const target =
          targetOf(args) ??
          (await askIntegration(model, i => i.status === 'authenticated'));
        if (target) {
          await model.signOut(target.id);
        }
      } catch (error) {
        reportError("Couldn't sign out")(error);
      }
    }
  });

  for (const command of [
    CommandIDs.refresh,
    CommandIDs.viewSnippet,
    CommandIDs.copySnippet,
    CommandIDs.insertSnippet
  ]) {
    ctx.palette?.addItem({ command, category: PALETTE_CATEGORY });
  }

  const items: [string, ReadonlyPartialJSONObject][] = [
    [CommandIDs.signIn, {}],
    [CommandIDs.signOut, {}],
    [CommandIDs.copySnippet, { language: 'python' }],
    [CommandIDs.copySnippet, { language: 'r' }],
    [CommandIDs.viewSnippet, { language: 'python' }],
    [CommandIDs.viewSnippet, { language: 'r' }],
    [CommandIDs.insertSnippet, { language: 'python' }],
    [CommandIDs.insertSnippet, { language: 'r' }]
  ];
  items.forEach(([command, args], rank) => {
    app.contextMenu.addItem({
      command,
      args: { ...args, contextMenu: true },
      selector: ROW_SELECTOR,
      rank: rank + 1
    });
  });
  app.contextMenu.addItem({
    type: 'separator',
    selector: ROW_SELECTOR,
    rank: 2.5
  });
}

/** Ask which integration, by display name. Null when cancelled. */
async function askIntegration(
  model: CredentialsModel,
  filter: (i: IIntegration) => boolean = () => true
): Promise<IIntegration | null> {
  const candidates = (await model.ensureLoaded()).filter(filter);
  if (candidates.length === 0) {
    Notification.warning('No integration to choose from.', { autoClose: 5000 });
    return null;
  }
  const counts = new Map<string, number>();
  for (const i of candidates) {
    counts.set(i.display_name, (counts.get(i.display_name) ?? 0) + 1);
  }
  // Two integrations may share a display name: tell them apart by id.
  const labels = candidates.map(i =>
    (counts.get(i.display_name) ?? 0) > 1
      ? `${i.display_name} (${i.id})`
      : i.display_name
  );
  const result = await InputDialog.getItem({
    title: 'Which integration?',
    label: 'Integration',
    items: labels,
    current: 0
  });
  if (!result.button.accept || result.value === null) {
    return null;
  }
  const index = labels.indexOf(result.value);
  return index >= 0 ? candidates[index] : null;
}

/** Ask which snippet language. Null when cancelled. */
async function askLanguage(): Promise<SnippetLanguage | null> {
  const languages: SnippetLanguage[] = ['python', 'r'];
  const labels = languages.map(l => LANGUAGE_LABELS[l]);
  const result = await InputDialog.getItem({
    title: 'Which language?',
    label: 'Snippet language',
    items: labels,
    current: 0
  });
  if (!result.button.accept || result.value === null) {
    return null;
  }
  const index = labels.indexOf(result.value);
  return index >= 0 ? languages[index] : null;
}
