import { parseSignInMessage, SignInListener } from '../signin';
import { ISignInResult } from '../types';

const ORIGIN = 'http://127.0.0.1:8888';
const ok = {
  type: 'jupyter-creds:signin',
  integration_id: '3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11',
  ok: true,
  error: null
};

describe('parseSignInMessage', () => {
  it('accepts the callback page’s message from our origin', () => {
    expect(parseSignInMessage({ origin: ORIGIN, data: ok }, ORIGIN)).toEqual(
      ok
    );
  });

  it('ignores a message from another origin', () => {
    expect(
      parseSignInMessage({ origin: 'https://evil.example', data: ok }, ORIGIN)
    ).toBeNull();
    expect(
      parseSignInMessage({ origin: 'http://127.0.0.1:8889', data: ok }, ORIGIN)
    ).toBeNull();
  });

  it('ignores messages that are not sign-in results', () => {
    for (const data of [
      null,
      'jupyter-creds:signin',
      { ...ok, type: 'something-else' },
      { ...ok, integration_id: '' },
      { ...ok, integration_id: 42 },
      { ...ok, ok: 'yes' }
    ]) {
      expect(parseSignInMessage({ origin: ORIGIN, data }, ORIGIN)).toBeNull();
    }
  });

  it('keeps the provider’s reason of a failure', () => {
    const failed = {
      ...ok,
      ok: false,
      error: 'access_denied: the user said no'
    };
    expect(
      parseSignInMessage({ origin: ORIGIN, data: failed }, ORIGIN)
    ).toEqual(failed);
    expect(
      parseSignInMessage({ origin: ORIGIN, data: { ...ok, error: 7 } }, ORIGIN)
        ?.error
    ).toBeNull();
  });
});

describe('SignInListener', () => {
  it('reports results posted to the window from our origin only', () => {
    const results: ISignInResult[] = [];
    const listener = new SignInListener(r => results.push(r));
    const origin = window.location.origin;

    window.dispatchEvent(new MessageEvent('message', { data: ok, origin }));
    window.dispatchEvent(
      new MessageEvent('message', { data: ok, origin: 'https://evil.example' })
    );
    expect(results).toEqual([ok]);

    listener.dispose();
    window.dispatchEvent(new MessageEvent('message', { data: ok, origin }));
    expect(results).toHaveLength(1);
    expect(listener.isDisposed).toBe(true);
  });
});
