/**
 * The read-only snippet tab: the generated code, syntax-highlighted, with a
 * Copy to Clipboard toolbar button and a "Copy" code lens above line 1.
 */

import { MainAreaWidget, Sanitizer } from '@jupyterlab/apputils';
import {
  CodeEditor,
  CodeEditorWrapper,
  IEditorServices
} from '@jupyterlab/codeeditor';
import { copyIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { keyIcon } from './icons';
import { ISnippet, LANGUAGE_LABELS, SnippetLanguage } from './types';

/** The main-area id of the snippet tab of one integration and language. */
export function snippetWidgetId(id: string, language: SnippetLanguage): string {
  return `jupyter-creds-snippet-${id}-${language}`;
}

/** The tab title: "Snowflake (prod) — Python snippet". */
export function snippetTitle(
  displayName: string,
  language: SnippetLanguage
): string {
  return `${displayName} — ${LANGUAGE_LABELS[language]} snippet`;
}

export namespace SnippetView {
  export interface IOptions {
    snippet: ISnippet;
    /** Copies the snippet (with a notification). */
    copy: () => void;
    /** Editors for highlighting; without them the server's HTML is shown. */
    editorServices?: IEditorServices | null;
  }
}

/** The tab's content: the code lens line and the read-only code. */
export class SnippetView extends Panel {
  constructor(options: SnippetView.IOptions) {
    super();
    this.addClass('jp-creds-SnippetView');
    const { snippet } = options;
    this.node.dataset.language = snippet.language;

    const lens = document.createElement('div');
    lens.className = 'jp-creds-SnippetView-codeLens';
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'jp-creds-SnippetView-copyLink';
    link.textContent = 'Copy';
    link.title = 'Copy to Clipboard';
    link.setAttribute('aria-label', 'Copy snippet to clipboard');
    link.addEventListener('click', () => options.copy());
    lens.appendChild(link);
    this.addWidget(new Widget({ node: lens }));

    this._code = snippet.code;
    const services = options.editorServices;
    if (services) {
      const model = new CodeEditor.Model({
        mimeType: services.mimeTypeService.getMimeTypeByLanguage(
          snippet.language === 'python'
            ? { name: 'python', file_extension: '.py' }
            : { name: 'R', file_extension: '.r' }
        )
      });
      model.sharedModel.setSource(snippet.code);
      const editor = new CodeEditorWrapper({
        model,
        factory: services.factoryService.newDocumentEditor,
        editorOptions: {
          config: { readOnly: true, lineNumbers: true, lineWrap: true }
        }
      });
      editor.addClass('jp-creds-SnippetView-code');
      this._model = model;
      this.addWidget(editor);
    } else {
      // The server's Pygments HTML, sanitized all the same.
      const host = document.createElement('div');
      host.className =
        'jp-creds-SnippetView-code jp-creds-SnippetView-highlight';
      host.innerHTML = new Sanitizer().sanitize(snippet.html);
      this.addWidget(new Widget({ node: host }));
    }
  }

  /** The code shown, exactly as the server generated it. */
  get code(): string {
    return this._code;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    super.dispose();
    this._model?.dispose();
  }

  private _code: string;
  private _model: CodeEditor.Model | null = null;
}

/** Create the main-area tab for a snippet. */
export function createSnippetWidget(options: {
  integrationId: string;
  displayName: string;
  snippet: ISnippet;
  copy: () => void;
  editorServices?: IEditorServices | null;
}): MainAreaWidget<SnippetView> {
  const content = new SnippetView({
    snippet: options.snippet,
    copy: options.copy,
    editorServices: options.editorServices
  });
  const widget = new MainAreaWidget({ content });
  widget.id = snippetWidgetId(options.integrationId, options.snippet.language);
  widget.addClass('jp-creds-SnippetWidget');
  widget.node.dataset.integrationId = options.integrationId;
  widget.title.label = snippetTitle(
    options.displayName,
    options.snippet.language
  );
  widget.title.caption = `${widget.title.label} (read-only)`;
  widget.title.icon = keyIcon;
  widget.title.closable = true;
  widget.toolbar.addItem(
    'copy',
    new ToolbarButton({
      icon: copyIcon,
      label: 'Copy to Clipboard',
      tooltip: 'Copy to Clipboard',
      className: 'jp-creds-SnippetWidget-copy',
      onClick: options.copy
    })
  );
  return widget;
}
