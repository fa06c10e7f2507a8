// The PSP (docs/contracts.md section 2): POST {PARTNER_URL}/psp/charges with
// an Idempotency-Key. Every call has a deadline; a fresh connection per call,
// so a link that was cut or blackholed never leaves a stale socket behind.

import http from "node:http";
import { DEADLINES } from "./config";

export type ChargeOutcome =
  | { kind: "captured"; chargeId: string }
  | { kind: "declined" }
  // The PSP answered something else (a 5xx, a 4xx, a body we cannot read).
  | { kind: "unknown"; transport: false; detail: string }
  // No answer at all: refused, reset, cut halfway, or the deadline passed.
  | { kind: "unknown"; transport: true; detail: string };

export class Psp {
  private readonly url: URL;

  constructor(partnerUrl: string) {
    this.url = new URL("/psp/charges", partnerUrl + "/");
  }

  charge(idempotencyKey: string, reference: string, amount: number): Promise<ChargeOutcome> {
    const body = JSON.stringify({ reference, amount });
    return new Promise<ChargeOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: ChargeOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = http.request(
        this.url,
        {
          method: "POST",
          agent: false,
          headers: {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body),
            "Idempotency-Key": idempotencyKey,
            Connection: "close",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("aborted", () => finish({ kind: "unknown", transport: true, detail: "answer cut off" }));
          res.on("error", (err) => finish({ kind: "unknown", transport: true, detail: err.message }));
          res.on("end", () => {
            if (!res.complete) {
              finish({ kind: "unknown", transport: true, detail: "answer cut off" });
              return;
            }
            const status = res.statusCode ?? 0;
            let parsed: unknown = undefined;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              parsed = undefined;
            }
            const obj = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
            if (status === 200 && typeof obj.charge_id === "string" && obj.charge_id !== "") {
              finish({ kind: "captured", chargeId: obj.charge_id });
            } else if (status === 402) {
              finish({ kind: "declined" });
            } else {
              finish({ kind: "unknown", transport: false, detail: `HTTP ${status}` });
            }
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${DEADLINES.pspCall} ms`));
        finish({ kind: "unknown", transport: true, detail: `no answer within ${DEADLINES.pspCall} ms` });
      }, DEADLINES.pspCall);
      req.on("error", (err) => finish({ kind: "unknown", transport: true, detail: err.message }));
      req.end(body);
    });
  }
}
