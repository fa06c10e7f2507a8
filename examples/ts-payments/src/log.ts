// One line per event on stdout; the harness shows a target's last lines.

let prefix = "ts-payments";

export function setLogPrefix(p: string): void {
  prefix = p;
}

export function log(message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${prefix} ${message}\n`);
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return code !== undefined ? `${err.message} (${String(code)})` : err.message;
  }
  return String(err);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Races a promise against a deadline. The losing work is not cancelled (the
// caller's own timeouts end it); only the caller stops waiting for it.
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
