package org.cottention.serve;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/** A request running in the engine: its result when done, and a way to stop it (it leaves within one step). */
public final class Generation {
    final CompletableFuture<Completion> result = new CompletableFuture<>();
    final AtomicBoolean cancelled = new AtomicBoolean();

    Generation() {}

    /** Completes with the {@link Completion} (a cancelled request completes too, finish reason "cancelled"). */
    public CompletableFuture<Completion> result() {
        return result;
    }

    /** Stops the request's choices at the next step (e.g. the client disconnected). */
    public void cancel() {
        cancelled.set(true);
    }

    public boolean isCancelled() {
        return cancelled.get();
    }
}
