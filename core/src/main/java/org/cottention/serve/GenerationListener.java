package org.cottention.serve;

/**
 * Streaming callbacks of one request. Called on the engine's decoding thread, in order per choice: they must return
 * quickly and never block (hand the text to another thread), or every sequence in the batch waits.
 */
public interface GenerationListener {
    /**
     * New text of a choice: whole characters only, never a part of a stop string (text that might begin one is held
     * back until it is known not to). Concatenated, the deltas are {@link Completion.Choice#text()}.
     */
    void onText(int choice, String delta);

    /** A choice ended ("stop", "length", "cancelled"). */
    default void onFinish(int choice, String finishReason) {}

    GenerationListener NONE = (c, d) -> {};
}
