import { CredsAPIError, CredsNetworkError } from '../errors';
import { CredentialsModel, pollFrequency, shouldStandby } from '../model';
import { ICredsClient, IIntegration } from '../types';
import { integration } from './fixtures';

/** A document whose visibility a test controls. */
class FakeDocument extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';

  setVisibility(state: DocumentVisibilityState): void {
    this.visibilityState = state;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

/** Counts `GET integrations`; answers with `answer()`. */
class FakeClient implements ICredsClient {
  calls = 0;
  answer: () => Promise<IIntegration[]> = async () => [integration()];
  signedOut: string[] = [];

  listIntegrations(): Promise<IIntegration[]> {
    this.calls++;
    return this.answer();
  }
  async signIn(): Promise<{ authorization_url: string }> {
    return { authorization_url: 'https://idp.example.com/authorize' };
  }
  async signOut(id: string): Promise<void> {
    this.signedOut.push(id);
  }
  async snippet(): Promise<never> {
    throw new Error('not used');
  }
}

const INTERVAL_S = 0.05;
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Wait until `condition` holds (timers here are real, machines are slow). */
async function waitFor(condition: () => boolean, timeout = 3000) {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeout) {
      throw new Error('timed out waiting for a condition');
    }
    await sleep(5);
  }
}

function setup(panelVisible = true) {
  const client = new FakeClient();
  const doc = new FakeDocument();
  const view = { visible: panelVisible };
  const model = new CredentialsModel({
    client,
    interval: INTERVAL_S,
    isViewVisible: () => view.visible,
    document: doc as unknown as Document
  });
  return { client, doc, view, model };
}

describe('shouldStandby', () => {
  it('stands by when the page is hidden', () => {
    expect(shouldStandby({ visibilityState: 'hidden' }, true)).toBe(true);
  });

  it('stands by when the panel is not visible', () => {
    expect(shouldStandby({ visibilityState: 'visible' }, false)).toBe(true);
  });

  it('polls when both the page and the panel are visible', () => {
    expect(shouldStandby({ visibilityState: 'visible' }, true)).toBe(false);
    expect(shouldStandby(undefined, true)).toBe(false);
  });
});

describe('pollFrequency', () => {
  it('turns the seconds setting into a backing-off poll frequency', () => {
    expect(pollFrequency(30)).toEqual({
      interval: 30000,
      backoff: true,
      max: 120000
    });
    expect(pollFrequency(1)).toEqual({
      interval: 1000,
      backoff: true,
      max: 10000
    });
  });

  it('falls back to 30 seconds for nonsense', () => {
    expect(pollFrequency(0).interval).toBe(30000);
    expect(pollFrequency(NaN).interval).toBe(30000);
  });
});

describe('CredentialsModel polling', () => {
  it('sends no request at all while the panel is hidden', async () => {
    const { client, model } = setup(false);
    await sleep(INTERVAL_S * 1000 * 6);
    expect(client.calls).toBe(0);
    await model.refresh(); // e.g. a sign-in result arrives meanwhile
    await sleep(INTERVAL_S * 1000 * 2);
    expect(client.calls).toBe(0);
    model.dispose();
  });

  it('polls once per interval while visible and stops while the page is hidden', async () => {
    const { client, doc, model } = setup(true);
    await waitFor(() => client.calls >= 3);
    expect(model.connection).toBe('ready');
    expect(model.integrations).toHaveLength(1);

    doc.setVisibility('hidden');
    await sleep(INTERVAL_S * 1000); // let a request in flight settle
    const before = client.calls;
    await sleep(INTERVAL_S * 1000 * 5);
    expect(client.calls).toBe(before);

    model.interval = 60; // so that only the refresh below can request
    doc.setVisibility('visible'); // refreshes at once, not after an interval
    await waitFor(() => client.calls === before + 1);
    await sleep(50);
    expect(client.calls).toBe(before + 1);
    model.dispose();
  });

  it('refreshes when asked even between ticks', async () => {
    const { client, view, model } = setup(false);
    model.interval = 60;
    await sleep(20);
    view.visible = true; // what the panel's onAfterShow does
    await model.refresh();
    await waitFor(() => client.calls === 1);
    model.dispose();
  });

  it('reports an unreachable server instead of the stale list, then recovers', async () => {
    const { client, model } = setup(true);
    await waitFor(() => model.connection === 'ready');

    client.answer = () =>
      Promise.reject(new CredsNetworkError('Failed to fetch'));
    await model.refresh();
    await waitFor(() => model.connection === 'unreachable');
    expect(model.lastError).toBe("Can't reach the Jupyter server.");

    client.answer = async () => [integration()];
    await model.refresh();
    await waitFor(() => model.connection === 'ready');
    expect(model.lastError).toBeNull();
    model.dispose();
  });

  it('tells a server error apart from an unreachable server', async () => {
    const { client, model } = setup(true);
    client.answer = () =>
      Promise.reject(
        new CredsAPIError(403, 'Forbidden: no permission', 'forbidden')
      );
    await waitFor(() => model.connection === 'failed');
    expect(model.lastError).toBe('Forbidden: no permission');
    model.dispose();
  });

  it('changes the interval from the setting', () => {
    const { model } = setup(false);
    model.interval = 5;
    expect(model.interval).toBe(5);
    model.dispose();
  });
});

describe('CredentialsModel sign-in state', () => {
  it('shows pending, then authenticated at once when the callback reports success', async () => {
    const { model } = setup(true);
    await waitFor(() => model.connection === 'ready');
    const id = model.integrations[0].id;

    model.beginSignIn(id);
    expect(model.signInState(id)).toEqual({ pending: true, error: null });

    model.endSignIn(id, true, null);
    expect(model.signInState(id)).toEqual({ pending: false, error: null });
    expect(model.find(id)?.status).toBe('authenticated');
    model.dispose();
  });

  it('keeps the provider’s reason when the sign-in fails', async () => {
    const { model } = setup(true);
    await waitFor(() => model.connection === 'ready');
    const id = model.integrations[0].id;
    model.beginSignIn(id);
    model.endSignIn(id, false, 'access_denied');
    expect(model.signInState(id)).toEqual({
      pending: false,
      error: 'access_denied'
    });
    expect(model.find(id)?.status).toBe('not_signed_in');
    model.dispose();
  });

  it('stops waiting when the sign-in window is closed', async () => {
    const { model } = setup(false);
    model.beginSignIn('x');
    model.cancelSignIn('x');
    expect(model.signInState('x').pending).toBe(false);
    model.dispose();
  });

  it('signs out and shows the row signed out at once', async () => {
    const { client, model } = setup(true);
    client.answer = async () => [
      integration({ status: 'authenticated', account: 'alice' })
    ];
    await waitFor(() => model.connection === 'ready');
    const id = model.integrations[0].id;
    client.answer = async () => [integration()];
    await model.signOut(id);
    expect(client.signedOut).toEqual([id]);
    expect(model.find(id)).toMatchObject({
      status: 'not_signed_in',
      account: null
    });
    model.dispose();
  });

  it('fetches on demand for the palette while the panel is closed', async () => {
    const { client, model } = setup(false);
    const list = await model.ensureLoaded();
    expect(list).toHaveLength(1);
    expect(client.calls).toBe(1);
    await model.ensureLoaded();
    expect(client.calls).toBe(1);
    model.dispose();
  });
});
