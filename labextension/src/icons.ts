import { LabIcon } from '@jupyterlab/ui-components';

/*
 * Our own drawings on JupyterLab's 24x24 icon grid. The `jp-icon3` class lets
 * the theme pick the fill; style/base.css colours them by status.
 */

const keySvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" fill-rule="evenodd"
    d="M11.58 10A5 5 0 1 0 11.58 14H14v3h3v-3h2v2h3v-6zM7 10a2 2 0 1 1 0 4a2 2 0 1 1 0-4z"/>
</svg>`;

const lockSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" fill-rule="evenodd"
    d="M7 10V8a5 5 0 0 1 10 0v2h1a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1zm2 0h6V8a3 3 0 0 0-6 0zm2 4v4h2v-4z"/>
</svg>`;

const warningSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" fill-rule="evenodd"
    d="M12 2 1 21h22zm-1 7v6h2V9zm0 8v2h2v-2z"/>
</svg>`;

/** Authenticated; also the sidebar tab's icon. */
export const keyIcon = new LabIcon({
  name: 'jupyter-creds:key',
  svgstr: keySvg
});

/** Not signed in. */
export const lockIcon = new LabIcon({
  name: 'jupyter-creds:lock',
  svgstr: lockSvg
});

/** Configuration error. */
export const warningIcon = new LabIcon({
  name: 'jupyter-creds:warning',
  svgstr: warningSvg
});
