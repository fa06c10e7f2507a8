package failmodel.javapay;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Completes payments left pending (PSP answer lost, PSP down, a crash between the intent and
 * the charge, or between the charge and its record): re-sends the same charge with the same
 * idempotency key until the PSP gives a definite answer, and records it. Runs forever; every
 * error is logged and retried.
 */
final class Reconciler {
    private final Store store;
    private final Psp psp;
    private final ExecutorService calls = Executors.newFixedThreadPool(4, r -> {
        Thread t = new Thread(r, "reconcile-call");
        t.setDaemon(true);
        return t;
    });

    Reconciler(Store store, Psp psp) {
        this.store = store;
        this.psp = psp;
    }

    void run() {
        long lastLog = 0;
        while (true) {
            try {
                List<Store.Due> due = store.claimDue(16);
                List<Future<?>> running = new ArrayList<>();
                for (Store.Due d : due) {
                    running.add(calls.submit(() -> settle(d)));
                }
                for (Future<?> f : running) {
                    try {
                        f.get(30, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        f.cancel(true);
                    }
                }
                if (!due.isEmpty()) {
                    continue; // more may be due
                }
            } catch (Throwable t) {
                long now = System.nanoTime();
                if (now - lastLog > 5_000_000_000L) {
                    Main.log("reconciler: " + t.getMessage());
                    lastLog = now;
                }
            }
            Store.sleep(200);
        }
    }

    private void settle(Store.Due d) {
        Psp.Result r = psp.charge(d.paymentId, d.amount, Psp.RECONCILE_TIMEOUT);
        if (r.kind == Psp.Kind.UNKNOWN) {
            return; // claimed with a backoff: tried again soon
        }
        try {
            store.recordOutcome(d.paymentId, r);
        } catch (Exception e) {
            // Not recorded: still pending, so it will be claimed and asked again.
        }
    }
}
