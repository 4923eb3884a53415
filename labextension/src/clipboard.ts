import { Clipboard, Notification } from '@jupyterlab/apputils';

/**
 * Copy text to the system clipboard and say so.
 *
 * `navigator.clipboard` needs a secure context (https or localhost); the
 * JupyterLab helper (a copy event) covers plain-http servers.
 */
export async function copyText(text: string, what: string): Promise<boolean> {
  let copied = false;
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      copied = true;
    }
  } catch {
    copied = false;
  }
  if (!copied) {
    try {
      Clipboard.copyToSystem(text);
      copied = true;
    } catch {
      copied = false;
    }
  }
  if (copied) {
    Notification.success(`Copied ${what} to the clipboard.`, {
      autoClose: 2000
    });
  } else {
    Notification.error(`Could not copy ${what} to the clipboard.`);
  }
  return copied;
}
