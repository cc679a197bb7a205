package org.cottention.serve;

import org.cottention.model.AttentionType;
import org.cottention.testutil.TinyModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The in-process inference API: batching, sessions, state bytes, stop strings, streaming, cancellation. */
class InferenceEngineTest {
    @TempDir
    static Path tmp;
    static InferenceEngine cosine, softmax;

    @BeforeAll
    static void load() throws Exception {
        cosine = InferenceEngine.load(TinyModels.gpt(tmp.resolve("cos"), AttentionType.COSINE, 1), EngineConfig.defaults());
        softmax = InferenceEngine.load(TinyModels.gpt(tmp.resolve("soft"), AttentionType.SOFTMAX, 1), EngineConfig.defaults());
    }

    @AfterAll
    static void close() {
        cosine.close();
        softmax.close();
    }

    static SamplingParams greedy(int n) {
        return SamplingParams.greedy(n).withStop(List.of()).withMaxTokens(n);
    }

    static SamplingParams greedyNoEos(int n) {
        return new SamplingParams(0f, 1f, 0, 1f, n, List.of(), 0L, 1, true);
    }

    static Completion run(InferenceEngine e, String prompt, Session s, SamplingParams p) {
        return e.generate(InferenceEngine.Request.text(prompt, s, p, null));
    }

    @Test
    void greedyOutputIsTheSameAloneAndBatched() throws Exception {
        for (InferenceEngine e : List.of(cosine, softmax)) {
            String[] prompts = {"Call me Ishmael.", "The whale", "It was the best", "Ahab stood", "Queequeg and I", "sea"};
            List<int[]> alone = new ArrayList<>();
            for (String p : prompts) alone.add(run(e, p, null, greedyNoEos(12 + p.length())).choices().get(0).ids());
            long stepsBefore = e.stats().steps();
            List<Generation> gens = new ArrayList<>();
            for (String p : prompts) gens.add(e.submit(InferenceEngine.Request.text(p, null, greedyNoEos(12 + p.length()), null)));
            for (int i = 0; i < prompts.length; i++)
                assertArrayEquals(alone.get(i), gens.get(i).result().get(30, TimeUnit.SECONDS).choices().get(0).ids(), e.attention() + ": prompt " + i);
            long steps = e.stats().steps() - stepsBefore;
            int total = 0;
            for (String p : prompts) total += 12 + p.length();
            assertTrue(steps < total - prompts.length, e.attention() + ": the requests were decoded together (" + steps + " steps for " + total + " tokens)");
        }
    }

    @Test
    void aSessionContinuesExactlyAsOneShotPrompting() {
        for (InferenceEngine e : List.of(cosine, softmax)) {
            Session s = e.newSession();
            String p1 = "Call me Ishmael. Some years ago";
            Completion c1 = run(e, p1, s, greedyNoEos(8));
            assertFalse(c1.session().reset());
            assertEquals(0, c1.cachedTokens());
            String next = "\nUser: and then?\nAssistant:";
            String p2 = p1 + c1.choices().get(0).text() + next;
            Completion c2 = run(e, p2, s, greedyNoEos(8));
            // the session's tokens (prompt, then the generated ones as they were) followed by the new text's tokens
            int[] history = concat(e.encode(p1), c1.choices().get(0).ids(), e.encode(next));
            Completion oneShot = e.generate(InferenceEngine.Request.ids(history, null, greedyNoEos(8), null));
            assertArrayEquals(oneShot.choices().get(0).ids(), c2.choices().get(0).ids(), e.attention() + ": continued session = one-shot prompt");
            assertEquals(history.length, c2.promptTokens());
            assertFalse(c2.session().reset(), "the history was extended");
            assertTrue(c2.cachedTokens() >= e.encode(p1).length, "cached " + c2.cachedTokens());
            assertEquals(c2.promptTokens() + c2.choices().get(0).ids().length, c2.session().tokens());
            // a prompt that does not extend the history: start afresh, same result as one-shot
            Completion c3 = run(e, "Something else entirely", s, greedyNoEos(5));
            assertTrue(c3.session().reset());
            assertEquals(0, c3.cachedTokens());
            assertArrayEquals(run(e, "Something else entirely", null, greedyNoEos(5)).choices().get(0).ids(), c3.choices().get(0).ids());
        }
    }

    @Test
    void stopStringsEndTheTextAndTheSessionKeepsOnlyTheReturnedText() {
        Completion free = run(cosine, "The whale", null, greedyNoEos(30));
        String text = free.choices().get(0).text();
        assertTrue(text.length() > 6, text);
        String stop = text.substring(3, 5);
        Session s = cosine.newSession();
        List<String> streamed = new ArrayList<>();
        Completion c = cosine.generate(InferenceEngine.Request.text("The whale", s,
                greedyNoEos(30).withStop(List.of(stop)), (i, d) -> streamed.add(d)));
        String cut = c.choices().get(0).text();
        assertEquals(text.substring(0, text.indexOf(stop)), cut);
        assertEquals("stop", c.choices().get(0).finishReason());
        assertEquals(cut, String.join("", streamed), "streamed deltas add up to the text, no part of the stop string");
        String next = "The whale" + cut + " more";
        Completion c2 = run(cosine, next, s, greedyNoEos(6));
        assertFalse(c2.session().reset());
        int[] ids = c.choices().get(0).ids();
        int keep = 0;
        while (keep < ids.length && cut.startsWith(cosine.decode(java.util.Arrays.copyOf(ids, keep + 1)))) keep++;
        assertEquals(cut, cosine.decode(java.util.Arrays.copyOf(ids, keep)), "the stop string began on a token boundary");
        int[] history = concat(cosine.encode("The whale"), java.util.Arrays.copyOf(ids, keep), cosine.encode(" more"));
        assertArrayEquals(cosine.generate(InferenceEngine.Request.ids(history, null, greedyNoEos(6), null)).choices().get(0).ids(), c2.choices().get(0).ids());
    }

    @Test
    void aBoundaryInsideAWordResetsTheSessionInsteadOfChangingTheTokens() {
        Session s = cosine.newSession();
        Completion c1 = run(cosine, "The wha", s, greedyNoEos(0));
        assertEquals(cosine.encode("The wha").length, c1.session().tokens());
        Completion c2 = run(cosine, "The whale", s, greedyNoEos(5));
        assertTrue(c2.session().reset(), "\"wha\" + \"le\" tokenise together: the session starts afresh");
        assertArrayEquals(run(cosine, "The whale", null, greedyNoEos(5)).choices().get(0).ids(), c2.choices().get(0).ids());
        Completion c3 = run(cosine, "The whale" + c2.choices().get(0).text() + "\nUser: hi", s, greedyNoEos(5));
        assertFalse(c3.session().reset(), "a new line starts a new piece");
        assertEquals(c2.session().tokens(), c3.cachedTokens());
    }

    static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int o = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    @Test
    void stateBytesRoundTripAndBadStatesAreRefused() throws Exception {
        Session s = cosine.newSession();
        String p1 = "It was the best of times";
        Completion c1 = run(cosine, p1, s, greedyNoEos(6));
        byte[] state = cosine.exportState(s);
        assertEquals(cosine.stateSize(), state.length);
        Session back = cosine.importState(state);
        assertEquals(s.tokens(), back.tokens());
        assertEquals(s.historyHash(), back.historyHash());
        String p2 = p1 + c1.choices().get(0).text() + " and";
        assertArrayEquals(run(cosine, p2, s, greedyNoEos(6)).choices().get(0).ids(), run(cosine, p2, back, greedyNoEos(6)).choices().get(0).ids());

        byte[] flipped = state.clone();
        flipped[state.length / 2] ^= 1;
        assertTrue(assertThrows(StateFormatException.class, () -> cosine.importState(flipped)).getMessage().contains("checksum"));
        byte[] cut = java.util.Arrays.copyOf(state, state.length - 100);
        assertTrue(assertThrows(StateFormatException.class, () -> cosine.importState(cut)).getMessage().contains("truncated"));
        try (InferenceEngine other = InferenceEngine.load(TinyModels.gpt(tmp.resolve("cos2"), AttentionType.COSINE, 2), EngineConfig.defaults())) {
            assertTrue(assertThrows(StateFormatException.class, () -> other.importState(state)).getMessage().contains("another model"));
        }
        assertThrows(EngineException.Unsupported.class, () -> softmax.exportState(softmax.newSession()));
    }

    /** Gated models (decay + convolution) carry z and the convolution tail through batching, sessions and state bytes. */
    @Test
    void gatedModelsBatchContinueAndRoundTripTheirState() throws Exception {
        try (InferenceEngine gated = InferenceEngine.load(TinyModels.gpt(tmp.resolve("gated"), AttentionType.COSINE,
                org.cottention.model.CosineGate.SOFTPLUS, 2, 3), EngineConfig.defaults())) {
            String[] prompts = {"Call me Ishmael.", "The whale", "It was the best of times"};
            List<int[]> alone = new ArrayList<>();
            // different lengths: the batch is regrouped as requests finish, rows (S, z, convolution tail) copied over
            for (String p : prompts) alone.add(run(gated, p, null, greedyNoEos(6 + p.length() / 2)).choices().get(0).ids());
            List<Generation> gens = new ArrayList<>();
            for (String p : prompts) gens.add(gated.submit(InferenceEngine.Request.text(p, null, greedyNoEos(6 + p.length() / 2), null)));
            for (int i = 0; i < prompts.length; i++)
                assertArrayEquals(alone.get(i), gens.get(i).result().get(30, TimeUnit.SECONDS).choices().get(0).ids(), "gated: prompt " + i);

            Session s = gated.newSession();
            String p1 = "Call me Ishmael. Some years ago";
            Completion c1 = run(gated, p1, s, greedyNoEos(8));
            String next = "\nUser: and then?\nAssistant:";
            String p2 = p1 + c1.choices().get(0).text() + next;
            byte[] state = gated.exportState(s);
            Session back = gated.importState(state);
            assertArrayEquals(state, gated.exportState(back), "every part of the state (S, z, convolution tail, logits) survives the round trip");
            int[] history = concat(gated.encode(p1), c1.choices().get(0).ids(), gated.encode(next));
            int[] oneShot = gated.generate(InferenceEngine.Request.ids(history, null, greedyNoEos(8), null)).choices().get(0).ids();
            Completion c2 = run(gated, p2, s, greedyNoEos(8));
            assertFalse(c2.session().reset());
            assertArrayEquals(oneShot, c2.choices().get(0).ids(), "gated: continued session = one-shot prompt");
            Completion fromBack = run(gated, p2, back, greedyNoEos(8));
            assertFalse(fromBack.session().reset(), "the imported state is continued, not started afresh");
            assertEquals(c2.cachedTokens(), fromBack.cachedTokens());
            assertArrayEquals(oneShot, fromBack.choices().get(0).ids(), "gated: an imported state continues the same");
            assertTrue(gated.stateSize() > cosine.stateSize(), "the gated state adds z and the convolution tail");
        }
    }

    @Test
    void stateSizeDoesNotGrowWithTheHistory() {
        Session s = cosine.newSession();
        run(cosine, "a ".repeat(300), s, greedyNoEos(1));
        assertTrue(s.tokens() >= 300);
        assertEquals(cosine.exportState(s).length, cosine.stateSize());
        Session t = cosine.newSession();
        run(cosine, "a ", t, greedyNoEos(1));
        assertEquals(s.stateBytes(), t.stateBytes(), "same bytes after 300 tokens as after 1");
    }

    @Test
    void cancelledRequestsLeaveAndSessionsAreOneAtATime() throws Exception {
        Session s = cosine.newSession();
        CountDownLatch first = new CountDownLatch(1);
        Generation g = cosine.submit(InferenceEngine.Request.text("The whale", s, greedyNoEos(10_000), (i, d) -> first.countDown()));
        assertTrue(first.await(10, TimeUnit.SECONDS));
        assertThrows(EngineException.SessionBusy.class, () -> cosine.submit(InferenceEngine.Request.text("x", s, greedy(2), null)));
        g.cancel();
        Completion c = g.result().get(10, TimeUnit.SECONDS);
        assertEquals("cancelled", c.choices().get(0).finishReason());
        assertTrue(c.choices().get(0).ids().length < 10_000);
        assertFalse(s.busy());
        assertThrows(IllegalArgumentException.class, () -> cosine.submit(InferenceEngine.Request.text("x", null, greedy(1_000_000), null)));
        assertThrows(IllegalArgumentException.class, () -> cosine.submit(InferenceEngine.Request.ids(new int[0], null, greedy(3), null)));
    }

    @Test
    void severalChoicesAreSeededAndSampled() {
        SamplingParams p = new SamplingParams(1.0f, 0.9f, 0, 1f, 10, List.of(), 42L, 3, true);
        Completion a = run(cosine, "The whale", null, p), b = run(cosine, "The whale", null, p);
        assertEquals(3, a.choices().size());
        for (int i = 0; i < 3; i++) assertArrayEquals(a.choices().get(i).ids(), b.choices().get(i).ids(), "same seed, same choice " + i);
        assertFalse(java.util.Arrays.equals(a.choices().get(0).ids(), a.choices().get(1).ids()), "choices use different seeds");
    }
}
