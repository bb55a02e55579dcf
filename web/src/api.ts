// The page's client of cylo's HTTP API (same origin: /v1/...). When the server answers 401 the
// user is asked for the token once (a dialog); it is kept in this tab's sessionStorage (gone
// when the tab closes, never sent anywhere but this server) and sent as `Authorization: Bearer`.

const TOKEN_KEY = 'cylo.token';

export interface Runtime {
  language: string;
  aliases: string[];
  version: string | null;
  available: boolean;
  compiled: boolean;
}

export interface ApiError {
  code: string;
  message: string;
  field?: string;
}

/** Asks the user for a token; resolves undefined when they cancel. `why` says why it asks. */
export type TokenPrompt = (why: string) => Promise<string | undefined>;

export class Api {
  private token: string | null = sessionStorage.getItem(TOKEN_KEY);

  constructor(private readonly askToken: TokenPrompt) {}

  /** fetch() with the token; on 401 asks for it (again, if the one sent was refused) and retries. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    for (;;) {
      const headers = new Headers(init.headers);
      if (this.token !== null) headers.set('authorization', `Bearer ${this.token}`);
      const response = await fetch(path, { ...init, headers });
      if (response.status !== 401) return response;
      const given = await this.askToken(this.token === null ? 'This server requires a token.' : 'The server refused that token; enter it again.');
      if (given === undefined || given.trim() === '') return response;
      this.token = given.trim();
      sessionStorage.setItem(TOKEN_KEY, this.token);
    }
  }

  /** The installed languages, sorted by id. */
  async runtimes(): Promise<Runtime[]> {
    const response = await this.fetch('/v1/runtimes', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(await errorText(response));
    const all = (await response.json()) as Runtime[];
    return all.filter((r) => r.available).sort((a, b) => a.language.localeCompare(b.language));
  }
}

/** The message of an error answer (cylo's `{ error: { code, message } }`, or the status). */
export async function errorText(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: ApiError };
    if (body.error !== undefined) return `${body.error.message} (${body.error.code}, HTTP ${response.status})`;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status} ${response.statusText}`;
}
