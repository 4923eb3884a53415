// The browser side of the Available Credentials panel (jupyter_creds.widget.BrowserHelper), an
// anywidget front-end module. The panel itself is core ipywidgets driven by the kernel; this
// module does only what needs the browser:
//
// - visibility: while one of the panel's views is on screen and the tab is visible, ask the
//   kernel to refresh every `interval` seconds; nothing while hidden; one at once when shown again;
// - the sign-in window, opened inside the click on Sign In and navigated once the kernel has the
//   authorization URL (browsers block window.open after a round trip);
// - the clipboard and the `jupyter-creds:insert-snippet` event, inside the click;
// - sign-in completion (BroadcastChannel "jupyter-creds" and window messages, origin checked).
// One PanelState per widget model in this page is shared by its views: a panel shown twice
// still asks once per interval and reacts once to each message from the kernel.

const CHANNEL = 'jupyter-creds';
const SIGNIN_MESSAGE = 'jupyter-creds:signin';
const INSERT_EVENT = 'jupyter-creds:insert-snippet';
const INSERT_DONE_EVENT = 'jupyter-creds:insert-snippet:done';
const INSERT_WAIT_MS = 1500;
const PANEL_SELECTOR = '.jupyter-creds-panel';
// A tick the kernel has not answered yet (a cell is running) is not repeated before this long.
const BUSY_RESEND_MS = 60 * 1000;
// The provider's window is watched this long (the server's sign-in state lives 10 minutes).
const SIGNIN_WATCH_MS = 10 * 60 * 1000;
const DUPLICATE_MS = 3000;

/** "just now", "12 s ago", "3 min ago", "2 h ago": as jupyter_creds.views.describe_age. */
function describeAge(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** Copy with the legacy API: for pages served over plain http to another host. */
function legacyCopy(text) {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand('copy'); // false (never throws) when refused
  area.remove();
  return ok;
}

/**
 * Write `text` to the clipboard; resolves to null or the reason it failed. Call it inside the
 * click handler: the write starts before the first await, while the click still counts.
 */
function writeClipboard(text) {
  if (!navigator.clipboard || !window.isSecureContext) {
    return Promise.resolve(
      legacyCopy(text)
        ? null
        : 'the browser does not allow writing to the clipboard here'
    );
  }
  return navigator.clipboard.writeText(text).then(
    () => null,
    error => (error && error.message) || String(error)
  );
}

/** The text of the `.jc-copy-value` next to a button, and its language when it is code. */
function valueNear(button) {
  const scope = button.closest('.jc-copy-scope');
  const value = scope && scope.querySelector('.jc-copy-value');
  if (!value) return null;
  return {
    text: value.textContent,
    language: value.dataset.language || 'python'
  };
}

function rowOf(button) {
  const row = button.closest('.jc-row');
  if (!row) return null;
  const idClass = Array.from(row.classList).find(c => c.startsWith('jc-id-'));
  if (!idClass) return null;
  const name = row.querySelector('.jc-name');
  return {
    id: idClass.slice(6),
    name: name ? name.textContent : 'the integration'
  };
}

function writePlaceholder(popup, name) {
  try {
    const doc = popup.document;
    doc.title = 'Signing in…';
    const p = doc.createElement('p');
    p.style.font = '16px system-ui, sans-serif';
    p.style.margin = '3em auto';
    p.style.maxWidth = '32em';
    p.textContent =
      `Opening the sign-in page for ${name}… If nothing happens, the notebook's kernel is busy: ` +
      'the page opens when the running cell finishes.';
    doc.body.replaceChildren(p);
  } catch (e) {
    // A window of that name already shows another page: it is navigated all the same.
  }
}

class PanelState {
  constructor(model) {
    this.model = model;
    this.views = new Map(); // view -> {el, visible}
    this.active = false;
    this.wasActive = false;
    this.timer = null;
    this.tickSentAt = null;
    this.signins = new Map(); // integration id -> {popup, name, startedAt}
    this.watchTimer = null;
    this.recent = new Map(); // de-duplicates the same sign-in result from two sources

    this.onVisibility = () => this.update();
    this.onInterval = () => this.schedule();
    this.onKernelMessage = msg => this.handleKernelMessage(msg);
    this.onWindowMessage = event => {
      if (event.origin === window.location.origin)
        this.handleSignIn(event.data);
    };
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('message', this.onWindowMessage);
    model.on('change:interval', this.onInterval);
    model.on('msg:custom', this.onKernelMessage);
    this.channel = null;
    if (typeof BroadcastChannel !== 'undefined') {
      this.channel = new BroadcastChannel(CHANNEL);
      this.channel.onmessage = event => this.handleSignIn(event.data);
    }
  }

  dispose() {
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('message', this.onWindowMessage);
    this.model.off('change:interval', this.onInterval);
    this.model.off('msg:custom', this.onKernelMessage);
    if (this.channel) this.channel.close();
    clearTimeout(this.timer);
    clearInterval(this.watchTimer);
  }

  send(msg) {
    this.model.send(msg);
  }

  // -- visibility and ticks ------------------------------------------------------------------------
  setVisible(view, visible) {
    const entry = this.views.get(view);
    if (entry && entry.visible !== visible) {
      entry.visible = visible;
      this.update();
    }
  }

  update() {
    const onScreen = Array.from(this.views.values()).some(v => v.visible);
    const active = document.visibilityState !== 'hidden' && onScreen;
    if (active === this.active) return;
    this.active = active;
    if (!active) {
      clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    // Shown again after being hidden: refresh at once. Shown for the first time: only when the
    // list is older than the interval (it was just fetched when the panel was created).
    const age = Date.now() / 1000 - (this.model.get('updated_at') || 0);
    if (this.wasActive || (this.interval() > 0 && age >= this.interval()))
      this.tick();
    this.wasActive = true;
    this.schedule();
  }

  interval() {
    const seconds = Number(this.model.get('interval'));
    return seconds > 0 ? seconds : 0;
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    const seconds = this.interval();
    if (!this.active || !seconds) return;
    this.timer = setTimeout(() => {
      this.tick();
      this.schedule();
    }, seconds * 1000);
  }

  tick() {
    const now = Date.now();
    if (this.tickSentAt !== null && now - this.tickSentAt < BUSY_RESEND_MS)
      return;
    this.tickSentAt = now;
    this.send({ type: 'tick' });
  }

  // -- messages from the kernel --------------------------------------------------------------------
  handleKernelMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'refreshed') {
      this.tickSentAt = null;
    } else if (msg.type === 'signin-url') {
      this.navigate(msg.integration_id, msg.url, msg.name);
    } else if (msg.type === 'signin-failed') {
      const pending = this.signins.get(msg.integration_id);
      this.signins.delete(msg.integration_id);
      if (pending && pending.popup && !pending.popup.closed)
        pending.popup.close();
    } else if (msg.type === 'copy' && typeof msg.text === 'string') {
      writeClipboard(msg.text).then(error =>
        this.send({
          type: 'copied',
          ok: error === null,
          what: msg.what || 'the text',
          error
        })
      );
    }
  }

  // -- sign-in ---------------------------------------------------------------------------------------
  /** On the click: open the window now, the kernel sends the URL for it. */
  openSignIn(row) {
    let popup = null;
    try {
      popup = window.open(
        '',
        `jupyter-creds-signin-${row.id}`,
        'popup,width=640,height=760'
      );
    } catch (e) {
      popup = null;
    }
    if (popup) writePlaceholder(popup, row.name);
    this.signins.set(row.id, { popup, name: row.name, startedAt: Date.now() });
  }

  navigate(id, url, name) {
    const pending = this.signins.get(id);
    // Only the page where the click happened acts (other tabs on the same kernel get it too).
    if (!pending || typeof url !== 'string' || !/^https?:\/\//i.test(url))
      return;
    if (pending.popup && !pending.popup.closed) {
      try {
        pending.popup.location.href = url;
        this.watch();
        return;
      } catch (e) {
        // fall through to the link
      }
    }
    pending.popup = null;
    this.showBlocked(id, url, name || pending.name);
  }

  /** Tell the kernel when the provider's window closes without a result. */
  watch() {
    if (this.watchTimer) return;
    this.watchTimer = setInterval(() => {
      for (const [id, pending] of this.signins) {
        let closed = true;
        try {
          closed = !pending.popup || pending.popup.closed;
        } catch (e) {
          closed = true;
        }
        const expired = Date.now() - pending.startedAt > SIGNIN_WATCH_MS;
        if (pending.popup && (closed || expired)) {
          this.signins.delete(id);
          if (closed) this.send({ type: 'signin-closed', integration_id: id });
        }
      }
      if (!Array.from(this.signins.values()).some(p => p.popup)) {
        clearInterval(this.watchTimer);
        this.watchTimer = null;
      }
    }, 1000);
  }

  /**
   * The browser blocked the window: a link opens it from a fresh click. Only in this page's DOM,
   * never in a trait. Without `url`, remove the link.
   */
  showBlocked(id, url = null, name = '') {
    for (const { el } of this.views.values()) {
      el.querySelectorAll('.jc-note').forEach(n => {
        if (n.dataset.integrationId === id) n.remove();
      });
      if (!url) continue;
      const note = document.createElement('div');
      const link = document.createElement('a');
      Object.assign(note, { className: 'jc-note' });
      note.dataset.integrationId = id;
      Object.assign(link, { href: url, target: '_blank', rel: 'noopener' });
      link.textContent = `Open the sign-in page for ${name}`;
      link.addEventListener('click', () => this.showBlocked(id));
      note.append('The browser blocked the sign-in window. ', link);
      el.append(note);
    }
  }

  /** The callback page's message: refresh at once. */
  handleSignIn(data) {
    if (
      !data ||
      typeof data !== 'object' ||
      data.type !== SIGNIN_MESSAGE ||
      typeof data.integration_id !== 'string' ||
      typeof data.ok !== 'boolean'
    ) {
      return;
    }
    const key = `${data.integration_id}:${data.ok}`;
    const now = Date.now();
    if (now - (this.recent.get(key) || 0) < DUPLICATE_MS) return;
    this.recent.set(key, now);
    this.signins.delete(data.integration_id);
    this.showBlocked(data.integration_id);
    this.send({
      type: 'signin-done',
      integration_id: data.integration_id,
      ok: data.ok,
      error: typeof data.error === 'string' ? data.error : null
    });
  }

  // -- clipboard and insert ----------------------------------------------------------------------
  copy(button) {
    const value = valueNear(button);
    if (!value) return;
    const what = (button.title || 'the value').replace(/^Copy /, '');
    writeClipboard(value.text).then(error =>
      this.send({ type: 'copied', ok: error === null, what, error })
    );
  }

  /**
   * Ask the JupyterLab extension for a new cell (DESIGN.md's insert-snippet event, dispatched
   * from inside the output so that the cell goes below this one); without an answer within
   * INSERT_WAIT_MS, copy instead.
   */
  insert(code, language, target) {
    let answered = false;
    let timer = null;
    const finish = (how, error) =>
      this.send({ type: 'inserted', how, language, error });
    const fallback = reason => {
      writeClipboard(code).then(error =>
        error === null
          ? finish('clipboard', reason)
          : finish('failed', `${reason}; ${error}`)
      );
    };
    const onDone = event => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      window.removeEventListener(INSERT_DONE_EVENT, onDone);
      const detail = event.detail || {};
      if (detail.ok) finish('cell', null);
      else fallback(detail.error || 'the notebook refused the cell');
    };
    window.addEventListener(INSERT_DONE_EVENT, onDone);
    target.dispatchEvent(
      new CustomEvent(INSERT_EVENT, {
        bubbles: true,
        composed: true,
        detail: { code, language }
      })
    );
    if (!answered) {
      timer = setTimeout(() => {
        if (answered) return;
        answered = true;
        window.removeEventListener(INSERT_DONE_EVENT, onDone);
        fallback('no Jupyter extension answered');
      }, INSERT_WAIT_MS);
    }
  }
}

const states = new WeakMap();

function render({ model, el }) {
  let state = states.get(model);
  if (!state) {
    state = new PanelState(model);
    states.set(model, state);
  }
  const view = {};
  const entry = { el, visible: false };
  state.views.set(view, entry);
  el.classList.add('jc-helper');

  const panelRoot = () => el.closest(PANEL_SELECTOR);

  // Visible while the helper or its panel intersects the viewport.
  const intersecting = new Set();
  const observer = new IntersectionObserver(entries => {
    for (const e of entries) {
      if (e.isIntersecting) intersecting.add(e.target);
      else intersecting.delete(e.target);
    }
    state.setVisible(view, intersecting.size > 0);
  });
  observer.observe(el);
  let frame = 0;
  let tries = 0;
  const observeRoot = () => {
    const root = panelRoot();
    if (root) observer.observe(root);
    else if (tries++ < 100) frame = requestAnimationFrame(observeRoot);
  };
  observeRoot();

  // Clicks in this view's panel that must be handled inside the click.
  const onClick = event => {
    const root = panelRoot();
    const target = event.target instanceof Element ? event.target : null;
    if (!root || !target || !root.contains(target)) return;
    const button = target.closest('button');
    if (!button || !root.contains(button) || button.disabled) return;
    if (button.classList.contains('jc-signin')) {
      const row = rowOf(button);
      if (row) state.openSignIn(row);
    } else if (button.classList.contains('jc-copy')) {
      state.copy(button);
    } else if (button.classList.contains('jc-insert')) {
      const value = valueNear(button);
      if (value) state.insert(value.text, value.language, button);
    }
  };
  document.addEventListener('click', onClick, true);

  // "Updated 12 s ago" between refreshes.
  const clock = setInterval(() => {
    const root = panelRoot();
    if (!entry.visible || !root) return;
    root.querySelectorAll('.jc-updated[data-updated-at]').forEach(node => {
      const at = Number(node.dataset.updatedAt);
      if (at > 0)
        node.textContent = `Updated ${describeAge(Date.now() / 1000 - at)}`;
    });
  }, 1000);

  return () => {
    document.removeEventListener('click', onClick, true);
    observer.disconnect();
    cancelAnimationFrame(frame);
    clearInterval(clock);
    state.views.delete(view);
    state.update();
    if (state.views.size === 0) {
      state.dispose();
      states.delete(model);
    }
  };
}

export default { render };
