/**
 * Errors of the jupyter_creds REST client.
 *
 * Kept free of JupyterLab imports so the model (and its tests) can tell a
 * server that is down from a server that said no.
 */

/** The server answered with an error: `{"message", "reason"}` (DESIGN.md). */
export class CredsAPIError extends Error {
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** A message for a person, from the JSON error body. */
    message: string,
    /** A machine-readable code (`config_error`, `unknown_integration`...), '' when absent. */
    readonly reason: string
  ) {
    super(message);
    this.name = 'CredsAPIError';
  }
}

/** The request never got an answer from the Jupyter server. */
export class CredsNetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredsNetworkError';
  }
}

/**
 * Whether an error means the Jupyter server cannot be reached: no answer at
 * all, or a gateway in front of it (JupyterHub's proxy, a reverse proxy)
 * answering for it. Our own handlers always send a `reason`.
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof CredsNetworkError) {
    return true;
  }
  return (
    error instanceof CredsAPIError &&
    !error.reason &&
    (error.status === 0 || (error.status >= 502 && error.status <= 504))
  );
}

/** A one-line explanation of an error for a person. */
export function describeError(error: unknown): string {
  if (isUnreachable(error)) {
    return "Can't reach the Jupyter server.";
  }
  if (error instanceof Error && error.message) {
    return error.message;
  }
  return String(error);
}
