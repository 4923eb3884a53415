import {
  CredsAPIError,
  CredsNetworkError,
  describeError,
  isUnreachable
} from '../errors';

describe('isUnreachable', () => {
  it('is true for no answer and for a gateway answering for the server', () => {
    expect(isUnreachable(new CredsNetworkError('Failed to fetch'))).toBe(true);
    expect(isUnreachable(new CredsAPIError(502, 'Bad Gateway', ''))).toBe(true);
    expect(isUnreachable(new CredsAPIError(503, 'Unavailable', ''))).toBe(true);
  });

  it('is false when our server answered with a reason', () => {
    expect(
      isUnreachable(new CredsAPIError(502, 'Provider failed', 'provider_error'))
    ).toBe(false);
    expect(isUnreachable(new CredsAPIError(404, 'Not Found', ''))).toBe(false);
    expect(isUnreachable(new Error('x'))).toBe(false);
  });
});

describe('describeError', () => {
  it('uses the server’s message', () => {
    const error = new CredsAPIError(
      409,
      'Snowflake (prod) is misconfigured: issuer mismatch',
      'config_error'
    );
    expect(describeError(error)).toBe(
      'Snowflake (prod) is misconfigured: issuer mismatch'
    );
    expect(error.reason).toBe('config_error');
    expect(error.status).toBe(409);
  });

  it('says plainly when the server cannot be reached', () => {
    expect(describeError(new CredsNetworkError('TypeError'))).toBe(
      "Can't reach the Jupyter server."
    );
  });
});
