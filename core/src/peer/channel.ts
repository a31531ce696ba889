// Request/response with ids over one message pipe; used on both ends of the control channel.
import { now as clockNow } from '../clock.js';
import { type OutputMark, type Request, type Response, toWireError, type WireError } from './protocol.js';
import { adopt } from './realm.js';
import { currentTestScope, type TestScope } from './test-scope.js';

export interface ChannelOutput {
  /** Answering side: how much output it has written so far, sent with every answer. */
  mark?: () => OutputMark;
  /** Asking side: a promise when the output up to `mark` has not been read yet. */
  settle?: (mark: OutputMark) => Promise<void> | undefined;
}

type Pending = {
  op: string;
  /**
   * What the request is, as a failure report names it (`call("get", "k")`); made when asked.
   * Undefined for one the harness sent on its own, which no test awaits: not listed.
   */
  what: string | (() => string) | undefined;
  /** Epoch ms it was sent. */
  since: number;
  /** The test that sent it, when its plugin says (see test-scope.ts). */
  scope: TestScope | undefined;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
};

/** What the test awaits and has not settled yet: a request to a peer, a wait. */
export interface InFlight {
  /** What it is, as a failure report names it (`call("get")`, `waitForMesh()`). */
  what: string;
  /** Epoch ms it began. */
  since: number;
  /** The test that began it, when its plugin says (see test-scope.ts). */
  scope?: TestScope | undefined;
  /** How it stands now (a wait: what it still misses). */
  detail?: string;
}

export class Channel {
  #next = 1;
  #pending = new Map<number, Pending>();
  #closed: ((op: string, what: string) => Error) | undefined;

  constructor(
    private readonly post: (message: Request | Response) => void,
    private readonly serve: (op: string, args: unknown[]) => unknown,
    private readonly toError: (error: WireError, op: string) => Error,
    private readonly output: ChannelOutput = {},
  ) {}

  /**
   * Sends a request; `what` names it in failure reports (see inFlight), and `null` leaves it out
   * of them (one the harness sends on its own, which no test awaits).
   */
  request(
    op: string,
    args: unknown[] = [],
    what: string | (() => string) | null = `${op}()`,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed(op, describe({ op, what: what ?? undefined })));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        op,
        what: what ?? undefined,
        since: clockNow(),
        scope: currentTestScope(),
        resolve,
        reject,
      });
      try {
        this.post({ t: 'req', id, op, args });
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  /** The requests sent and not answered yet, oldest first. */
  inFlight(): InFlight[] {
    return [...this.#pending.values()].flatMap((pending) =>
      pending.what === undefined
        ? []
        : [{ what: describe(pending), since: pending.since, scope: pending.scope }],
    );
  }

  /** Handles a request or response; returns false for any other message. */
  receive(message: { t: string }): boolean {
    if (message.t === 'res') {
      const res = message as Response;
      const pending = this.#pending.get(res.id);
      if (!pending) return true;
      this.#pending.delete(res.id);
      const deliver = () => {
        if (res.ok) pending.resolve(adopt(res.value));
        else pending.reject(this.toError(res.error, pending.op));
      };
      const behind = res.out && this.output.settle?.(res.out);
      if (behind) behind.then(deliver);
      else deliver();
      return true;
    }
    if (message.t === 'req') {
      void this.#answer(message as Request);
      return true;
    }
    return false;
  }

  async #answer(req: Request): Promise<void> {
    let res: Response;
    try {
      res = { t: 'res', id: req.id, ok: true, value: await this.serve(req.op, req.args) };
    } catch (error) {
      res = { t: 'res', id: req.id, ok: false, error: toWireError(error) };
    }
    if (this.#closed) return;
    if (this.output.mark) res.out = this.output.mark();
    try {
      this.post(res);
    } catch (error) {
      // Typically a value that cannot be structured-cloned (a function, a socket…).
      const reason = toWireError(error);
      const [method] = req.args;
      const what =
        req.op === 'call' && typeof method === 'string' ? `call(${JSON.stringify(method)})` : req.op;
      reason.message = `${what}: the result could not be sent back (${reason.message}). Return plain data: values cross as structured clones.`;
      try {
        this.post({ t: 'res', id: req.id, ok: false, error: reason });
      } catch {}
    }
  }

  /**
   * Rejects every pending request, and every later one, with the error `reason(op, what)` makes
   * (`what` as in failure reports: `call("get", "k")`, so the error names the call it cut off).
   */
  close(reason: (op: string, what: string) => Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const pending of this.#pending.values()) pending.reject(reason(pending.op, describe(pending)));
    this.#pending.clear();
  }
}

/** What a request is, for people: its `what`, or its op when that cannot be said. */
function describe({ op, what }: Pick<Pending, 'op' | 'what'>): string {
  if (what === undefined) return `${op}()`;
  if (typeof what === 'string') return what;
  try {
    return what();
  } catch {
    return `${op}()`;
  }
}
