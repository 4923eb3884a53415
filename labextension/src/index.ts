import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { copyText } from './clipboard';
import { addCommands } from './commands';
import { listenForInsertRequests } from './insert';
import { CredentialsModel, DEFAULT_INTERVAL_SECONDS } from './model';
import { CredentialsPanel, PANEL_ID } from './panel';
import { CredsClient } from './request';
import { SignInFlow, SignInListener } from './signin';

/** The plugin id; its settings schema is schema/plugin.json. */
const PLUGIN_ID = 'jupyter-creds:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Available Credentials: sign in to OAuth integrations and get code snippets that use them.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ISettingRegistry,
    ICommandPalette,
    INotebookTracker,
    IEditorServices
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    editorServices: IEditorServices | null
  ): void => {
    const client = new CredsClient(app.serviceManager.serverSettings);

    // The model polls only while the panel is visible; the panel is created
    // just below.
    let panel: CredentialsPanel | null = null;
    const model = new CredentialsModel({
      client,
      interval: DEFAULT_INTERVAL_SECONDS,
      isViewVisible: () => !!panel && panel.isVisible
    });

    const nameOf = (id: string) => model.find(id)?.display_name ?? id;
    const signIn = new SignInFlow(client, {
      started: id => model.beginSignIn(id),
      failed: (id, message) => {
        model.endSignIn(id, false, message);
        Notification.error(`Couldn't sign in to ${nameOf(id)}: ${message}`, {
          autoClose: 8000
        });
      },
      abandoned: id => model.cancelSignIn(id),
      blocked: (id, open) => {
        Notification.warning(
          `The browser blocked the sign-in window for ${nameOf(id)}.`,
          {
            autoClose: false,
            actions: [{ label: 'Open sign-in page', callback: open }]
          }
        );
      }
    });

    panel = new CredentialsPanel({
      model,
      actions: {
        signIn: integration =>
          signIn.start(integration.id, integration.display_name),
        copy: (label, value) => void copyText(value, label)
      }
    });
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, PANEL_ID);

    // The callback page reports back: show the result at once.
    const listener = new SignInListener(result =>
      model.endSignIn(result.integration_id, result.ok, result.error)
    );

    const inserts = listenForInsertRequests(notebooks, notebook =>
      app.shell.activateById(notebook.id)
    );

    addCommands({
      app,
      model,
      panel,
      client,
      signIn,
      palette,
      notebooks,
      editorServices
    });

    panel.disposed.connect(() => {
      listener.dispose();
      inserts.dispose();
      model.dispose();
    });

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            const seconds = settings.composite.refreshInterval;
            model.interval =
              typeof seconds === 'number' && seconds >= 1
                ? seconds
                : DEFAULT_INTERVAL_SECONDS;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error('jupyter-creds: could not load settings.', reason);
        });
    }
  }
};

export default plugin;
