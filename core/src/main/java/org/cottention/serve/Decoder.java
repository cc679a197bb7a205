package org.cottention.serve;

import org.cottention.generate.Sampler;
import org.cottention.model.GptJ;
import org.cottention.model.GptJSession;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The engine's decoding thread (continuous batching, as llama.cpp's server slots): every active sequence is one row
 * of a {@link GptJSession}; each iteration prefills waiting prompts (a token budget per iteration), then runs one
 * batched step for all rows, samples each row's next token and drops the rows that finished. The batch is regrouped
 * ({@link GptJSession#ofRows}) only when sequences join or leave.
 */
final class Decoder implements Runnable {
    private final InferenceEngine engine;
    private final GptJ model;
    private final Tokenizer tok;
    private final EngineConfig cfg;
    private final int vocab;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private final ArrayDeque<Seq> incoming = new ArrayDeque<>();  // first choice of each new job; guarded by lock
    private boolean closed;                                       // guarded by lock
    private final AtomicInteger inFlight = new AtomicInteger();   // accepted, not yet completed
    private final Thread thread;
    private final AtomicLong requests = new AtomicLong(), promptTokens = new AtomicLong(), cachedTokens = new AtomicLong(),
            prefillTokens = new AtomicLong(), generatedTokens = new AtomicLong(), steps = new AtomicLong();
    private volatile int waitingNow, activeNow;

    // decoding thread only
    private final List<Seq> waiting = new ArrayList<>(), active = new ArrayList<>();
    private GptJSession batch;
    private boolean regroup;

    /** One request: its prompt split into what the session had and what is new. */
    private static final class Job {
        final InferenceEngine.Request req;
        final Generation gen = new Generation();
        final int[] fresh;                // prompt tokens to prefill
        final int cached, promptTokens;   // prompt tokens the session had; all prompt tokens
        final boolean reset;
        final float[] startLogits;        // logits after the session's last token (when nothing is fresh)
        final HistoryHash promptHash;     // of the session's tokens and the fresh ones (session requests)
        final Session.Text promptText;    // the history text after the prompt, or null (session requests)
        final Completion.Choice[] choices;
        final long submitted = System.nanoTime();
        long prefilled;
        int done;
        float[] promptLogits;
        GptJSession.Row sessionRow;       // the session's state after the request (choice 0)
        long sessionTokens;
        HistoryHash sessionHash;
        float[] sessionLogits;
        Session.Text sessionText;

        Job(InferenceEngine.Request req, int[] fresh, int cached, boolean reset, float[] startLogits, HistoryHash promptHash, Session.Text promptText) {
            this.req = req;
            this.fresh = fresh;
            this.cached = cached;
            this.promptTokens = cached + fresh.length;
            this.reset = reset;
            this.startLogits = startLogits;
            this.promptHash = promptHash;
            this.promptText = promptText;
            this.choices = new Completion.Choice[req.params().n()];
        }

        SamplingParams p() {
            return req.params();
        }

        GenerationListener listener() {
            return req.listener() != null ? req.listener() : GenerationListener.NONE;
        }
    }

    /** One sequence being prefilled or decoded (a choice of a job). */
    private final class Seq {
        final Job job;
        final int choice;
        GptJSession.Row row;       // state while not in the batch (view or detached)
        int prefilled;             // fresh tokens prefilled so far
        int batchIndex = -1;
        final Sampler sampler;
        final boolean[] seen;
        final float[] buf;
        int[] gen = new int[16];
        int n;                     // generated tokens (an end-of-text token not counted)
        int fed;                   // generated tokens fed into the state
        int lastToken;
        final StringBuilder text = new StringBuilder();
        int[] textLen = new int[16]; // chars of text after each generated token
        boolean[] whole = new boolean[16]; // no partial UTF-8 character pending after the token
        int sent;                  // chars handed to the listener
        int cut = -1;              // where a stop string begins
        final ByteLevelBpeTokenizer.StreamDecoder sd;
        GptJSession.Row snapshot;  // state after the prompt (session choice 0)
        float[] rawLogits;         // logits after the last fed token (session choice 0)
        int rawOff;

        Seq(Job job, int choice) {
            this.job = job;
            this.choice = choice;
            SamplingParams p = job.p();
            long seed = p.seed() != null ? p.seed() + choice : java.util.concurrent.ThreadLocalRandom.current().nextLong();
            sampler = new Sampler(new Sampler.Settings(p.temperature(), p.topK(), p.topP(), p.repetitionPenalty(), seed));
            if (p.repetitionPenalty() != 1f) {
                seen = new boolean[vocab];
                for (int id : job.fresh) seen[id] = true; // the new prompt tokens (a session's earlier ones are not kept)
            } else seen = null;
            buf = new float[vocab];
            sd = tok instanceof ByteLevelBpeTokenizer b ? b.streamDecoder() : null;
        }

        boolean keepsSession() {
            return choice == 0 && job.req.session() != null;
        }
    }

    Decoder(InferenceEngine engine, EngineConfig cfg) {
        this.engine = engine;
        this.model = engine.gpt;
        this.tok = engine.tokenizer();
        this.cfg = cfg;
        this.vocab = model.cfg.vocabSize();
        thread = Thread.ofPlatform().name("cottention-decoder-" + engine.name()).daemon().start(this);
    }

    // ------------------------------------------------------------------------------------------------ submission

    Generation submit(InferenceEngine.Request r) {
        if (r.params().maxTokens() > cfg.maxNewTokens())
            throw new IllegalArgumentException("max_tokens " + r.params().maxTokens() + " is more than this server allows (" + cfg.maxNewTokens() + ")");
        if (r.ids() != null)
            for (int id : r.ids())
                if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt token id " + id + " is outside the vocabulary of " + vocab);
        if (r.ids() == null && tok == null) throw new IllegalArgumentException("a text prompt needs a tokenizer; this model has none (send token ids)");
        Session s = r.session();
        if (s != null && s.engine() != engine) throw new IllegalArgumentException("the session belongs to another engine");
        if (s != null && !s.busy.compareAndSet(false, true)) throw new EngineException.SessionBusy("the session is busy with another request");
        boolean accepted = false;
        try {
            Job job = s == null ? new Job(r, r.ids() != null ? r.ids() : tok.encode(r.text()), 0, false, null, null, null) : continuation(r, s);
            if (job.fresh.length == 0 && job.startLogits == null) throw new IllegalArgumentException("the prompt is empty");
            if (inFlight.incrementAndGet() > cfg.maxQueued()) {
                inFlight.decrementAndGet();
                throw new EngineException.QueueFull(cfg.maxQueued() + " requests are waiting or running; retry later");
            }
            Seq first = new Seq(job, 0);
            if (job.cached > 0) first.row = s.row().cosine() ? s.row() : s.row().copy(); // a KV cache is consumed by the batch
            else first.row = GptJSession.emptyRow(model);
            lock.lock();
            try {
                if (closed) {
                    inFlight.decrementAndGet();
                    throw new EngineException.Closed("the engine is closed");
                }
                incoming.add(first);
                wake.signal();
            } finally {
                lock.unlock();
            }
            requests.incrementAndGet();
            promptTokens.addAndGet(job.promptTokens);
            cachedTokens.addAndGet(job.cached);
            accepted = true;
            return job.gen;
        } finally {
            if (!accepted && s != null) s.busy.set(false);
        }
    }

    /** Splits a session request's prompt into the part the session has seen and the new part (see InferenceEngine). */
    private Job continuation(InferenceEngine.Request r, Session s) {
        long seen = s.tokens();
        Session.Text text = s.text();
        if (r.text() != null && text != null && tok instanceof ByteLevelBpeTokenizer bpe) {
            String p = r.text();
            if (seen > 0 && p.length() >= text.chars() && Session.Text.EMPTY.hash().extend(p, 0, (int) text.chars()).equals(text.hash())
                    && bpe.splitsAt(text.tail() + p.substring((int) text.chars(), (int) Math.min(p.length(), text.chars() + 128)), text.tail().length())) {
                String suffix = p.substring((int) text.chars());
                int[] fresh = tok.encode(suffix);
                return new Job(r, fresh, (int) seen, false, s.lastLogits(), s.historyHash().extend(fresh, 0, fresh.length), text.append(suffix));
            }
            int[] ids = tok.encode(p);
            return new Job(r, ids, 0, seen > 0, null, HistoryHash.of(ids, ids.length), Session.Text.EMPTY.append(p));
        }
        int[] ids = r.ids() != null ? r.ids() : tok.encode(r.text());
        if (seen > 0 && seen <= ids.length && HistoryHash.of(ids, (int) seen).equals(s.historyHash())) {
            int[] fresh = Arrays.copyOfRange(ids, (int) seen, ids.length);
            return new Job(r, fresh, (int) seen, false, s.lastLogits(), s.historyHash().extend(fresh, 0, fresh.length), null);
        }
        return new Job(r, ids, 0, seen > 0, null, HistoryHash.of(ids, ids.length), r.text() != null ? Session.Text.EMPTY.append(r.text()) : null);
    }

    InferenceEngine.Stats stats() {
        return new InferenceEngine.Stats(requests.get(), promptTokens.get(), cachedTokens.get(), prefillTokens.get(),
                generatedTokens.get(), steps.get(), waitingNow, activeNow);
    }

    void close() {
        lock.lock();
        try {
            closed = true;
            wake.signal();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------------------------------------ the loop

    @Override
    public void run() {
        while (true) {
            lock.lock();
            try {
                while (!closed && incoming.isEmpty() && waiting.isEmpty() && active.isEmpty()) wake.awaitUninterruptibly();
                if (closed) break;
                for (Seq s; (s = incoming.poll()) != null; ) waiting.add(s);
            } finally {
                lock.unlock();
            }
            try {
                iterate();
            } catch (Throwable t) {
                failAll(t);
            }
            waitingNow = waiting.size();
            activeNow = active.size();
        }
        lock.lock();
        try {
            for (Seq s; (s = incoming.poll()) != null; ) waiting.add(s);
        } finally {
            lock.unlock();
        }
        failAll(new EngineException.Closed("the engine was closed"));
    }

    private void failAll(Throwable t) {
        java.util.Set<Job> jobs = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (Seq s : waiting) jobs.add(s.job);
        for (Seq s : active) jobs.add(s.job);
        waiting.clear();
        active.clear();
        batch = null;
        regroup = false;
        for (Job j : jobs) {
            if (j.req.session() != null) j.req.session().busy.set(false);
            inFlight.decrementAndGet();
            j.gen.result.completeExceptionally(t);
        }
    }

    private void iterate() {
        prefillWaiting();
        for (Iterator<Seq> it = active.iterator(); it.hasNext(); ) {
            Seq s = it.next();
            if (s.job.gen.isCancelled()) {
                finish(s, "cancelled");
                it.remove();
                regroup = true;
            }
        }
        if (regroup) regroupBatch();
        if (active.isEmpty()) return;
        int b = active.size();
        int[] tokens = new int[b];
        for (int i = 0; i < b; i++) tokens[i] = active.get(i).lastToken;
        float[] logits = batch.step(tokens);
        steps.incrementAndGet();
        for (Iterator<Seq> it = active.iterator(); it.hasNext(); ) {
            Seq s = it.next();
            s.fed++;
            int off = s.batchIndex * vocab;
            if (s.keepsSession()) {
                s.rawLogits = logits;
                s.rawOff = off;
            }
            if (accept(s, sample(s, logits, off))) {
                it.remove();
                regroup = true;
            }
        }
    }

    /**
     * Prefills waiting sequences within the token budget, all of them in one batched {@link GptJSession#extend}
     * (right-padded); those whose prompt is in sample their first token and join the batch, the others (long prompts)
     * keep their state for the next iteration.
     */
    private void prefillWaiting() {
        int budget = cfg.prefillBudget(), room = cfg.maxBatch() - active.size();
        List<Seq> group = new ArrayList<>();
        List<int[]> chunks = new ArrayList<>();
        for (Iterator<Seq> it = waiting.iterator(); it.hasNext() && room > 0; ) {
            Seq s = it.next();
            Job j = s.job;
            if (j.gen.isCancelled()) {
                it.remove();
                for (int c = 0; c < j.choices.length; c++) j.choices[c] = new Completion.Choice(c, new int[0], "", "cancelled", false, 0);
                j.done = j.choices.length;
                complete(j);
                continue;
            }
            int todo = j.fresh.length - s.prefilled;
            if (todo == 0) { // a session that has seen the whole prompt: its last logits are the prompt's
                it.remove();
                room -= j.choices.length;
                start(s, j.startLogits);
                continue;
            }
            if (budget <= 0) continue;
            int take = Math.min(todo, budget);
            budget -= take;
            room -= j.choices.length;
            group.add(s);
            chunks.add(Arrays.copyOfRange(j.fresh, s.prefilled, s.prefilled + take));
        }
        if (group.isEmpty()) return;
        List<GptJSession.Row> rows = new ArrayList<>(group.size());
        for (Seq s : group) rows.add(s.row);
        GptJSession prefill = GptJSession.ofRows(model, cfg.prefillSegment(), rows);
        float[] logits = prefill.extend(chunks.toArray(int[][]::new));
        for (int i = 0; i < group.size(); i++) {
            Seq s = group.get(i);
            s.prefilled += chunks.get(i).length;
            prefillTokens.addAndGet(chunks.get(i).length);
            s.row = prefill.row(i); // a view: this prefill session is not used again
            if (s.prefilled < s.job.fresh.length) continue;
            waiting.remove(s);
            start(s, Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab));
        }
    }

    /** The prompt is in: clone the state for the other choices, sample each first token. */
    private void start(Seq first, float[] logits) {
        Job j = first.job;
        j.promptLogits = logits;
        j.prefilled = System.nanoTime();
        List<Seq> seqs = new ArrayList<>();
        seqs.add(first);
        for (int c = 1; c < j.choices.length; c++) {
            Seq s = new Seq(j, c);
            s.row = first.row.copy();
            seqs.add(s);
        }
        if (first.keepsSession()) {
            first.snapshot = first.row.copy(); // to drop generated tokens that are not kept (stop string, partial character)
            first.rawLogits = logits;
            first.rawOff = 0;
        }
        for (Seq s : seqs) {
            if (j.p().maxTokens() == 0) {
                finish(s, "length");
                continue;
            }
            if (!accept(s, sample(s, logits, 0))) {
                active.add(s);
                regroup = true;
            }
        }
    }

    private void regroupBatch() {
        regroup = false;
        if (active.isEmpty()) {
            batch = null;
            return;
        }
        List<GptJSession.Row> rows = new ArrayList<>(active.size());
        for (Seq s : active) rows.add(s.batchIndex >= 0 ? batch.row(s.batchIndex) : s.row);
        batch = GptJSession.ofRows(model, cfg.prefillSegment(), rows);
        for (int i = 0; i < active.size(); i++) {
            active.get(i).batchIndex = i;
            active.get(i).row = null;
        }
    }

    private int sample(Seq s, float[] logits, int off) {
        System.arraycopy(logits, off, s.buf, 0, vocab);
        return s.sampler.next(s.buf, s.seen);
    }

    /** Takes a sampled token: streams its text, checks the stop conditions; true when the sequence finished. */
    private boolean accept(Seq s, int id) {
        SamplingParams p = s.job.p();
        if (!p.ignoreEos() && id == model.cfg.eosTokenId()) {
            flushText(s);
            emit(s, s.text.length());
            finish(s, "stop", true);
            return true;
        }
        if (s.n == s.gen.length) {
            s.gen = Arrays.copyOf(s.gen, 2 * s.n);
            s.textLen = Arrays.copyOf(s.textLen, 2 * s.n);
            s.whole = Arrays.copyOf(s.whole, 2 * s.n);
        }
        s.gen[s.n] = id;
        s.lastToken = id;
        if (s.seen != null) s.seen[id] = true;
        generatedTokens.incrementAndGet();
        int from = s.text.length();
        if (tok != null) s.text.append(s.sd != null ? s.sd.push(id) : tok.decode(new int[]{id}));
        s.whole[s.n] = s.sd == null || !s.sd.pending();
        s.textLen[s.n++] = s.text.length();
        if (!p.stop().isEmpty()) {
            int maxStop = 0;
            for (String st : p.stop()) maxStop = Math.max(maxStop, st.length());
            int searchFrom = Math.max(0, from - maxStop + 1), cut = -1;
            for (String st : p.stop()) {
                int i = s.text.indexOf(st, searchFrom);
                if (i >= 0 && (cut < 0 || i < cut)) cut = i;
            }
            if (cut >= 0) {
                s.cut = cut;
                emit(s, cut);
                finish(s, "stop");
                return true;
            }
        }
        if (s.n >= p.maxTokens()) {
            flushText(s);
            emit(s, s.text.length());
            finish(s, "length");
            return true;
        }
        emit(s, s.text.length() - holdBack(s.text, p.stop()));
        return false;
    }

    private static void flushText(Seq s) {
        if (s.sd != null) s.text.append(s.sd.flush());
    }

    /** Length of the longest end of text that is the beginning of a stop string (it may yet become one). */
    static int holdBack(CharSequence text, List<String> stops) {
        int hold = 0, len = text.length();
        for (String st : stops) {
            for (int k = Math.min(st.length() - 1, len); k > hold; k--) {
                boolean match = true;
                for (int i = 0; i < k && match; i++) match = text.charAt(len - k + i) == st.charAt(i);
                if (match) {
                    hold = k;
                    break;
                }
            }
        }
        return hold;
    }

    private void emit(Seq s, int upTo) {
        if (upTo > s.sent) {
            s.job.listener().onText(s.choice, s.text.substring(s.sent, upTo));
            s.sent = upTo;
        }
    }

    /** Records a finished choice; for a session's choice 0 works out the state to keep; completes the job when all are done. */
    private void finish(Seq s, String reason) {
        finish(s, reason, false);
    }

    private void finish(Seq s, String reason, boolean endOfText) {
        Job j = s.job;
        String text = s.cut >= 0 ? s.text.substring(0, s.cut) : s.text.toString();
        GptJSession.Row state = s.batchIndex >= 0 ? batch.row(s.batchIndex) : s.row;
        j.choices[s.choice] = new Completion.Choice(s.choice, Arrays.copyOf(s.gen, s.n), text, reason, endOfText, state == null ? 0 : state.bytes());
        j.listener().onFinish(s.choice, reason);
        if (s.keepsSession()) keepSession(s);
        s.row = null;
        s.snapshot = null;
        if (++j.done == j.choices.length) complete(j);
    }

    /**
     * The session continues with the prompt and the returned completion: the end-of-text token is not part of it,
     * nor a stop string or anything after it. The decoded state covers the prompt and the first {@code fed} generated
     * tokens; the missing ones are prefilled (from the state after the prompt when tokens must be dropped).
     */
    private void keepSession(Seq s) {
        Job j = s.job;
        int keep = s.n;
        if (s.cut >= 0) {
            keep = 0;
            while (keep < s.n && s.textLen[keep] <= s.cut) keep++;
        } else if ("cancelled".equals(j.choices[0].finishReason())) keep = s.fed;
        while (keep > 0 && !s.whole[keep - 1]) keep--; // end on a whole character, so the kept text is the kept tokens' text
        GptJSession.Row cur = s.batchIndex >= 0 ? batch.row(s.batchIndex) : s.row;
        GptJSession.Row base;
        float[] logits;
        int from;
        if (keep >= s.fed) {
            base = cur;
            from = s.fed;
            logits = Arrays.copyOfRange(s.rawLogits, s.rawOff, s.rawOff + vocab);
        } else {
            base = s.snapshot;
            from = 0;
            logits = j.promptLogits;
        }
        if (keep > from) {
            GptJSession one = GptJSession.ofRows(model, cfg.prefillSegment(), List.of(base.copy()));
            logits = one.extend(new int[][]{Arrays.copyOfRange(s.gen, from, keep)});
            prefillTokens.addAndGet(keep - from);
            j.sessionRow = one.row(0);
        } else j.sessionRow = base.copy();
        j.sessionTokens = (long) j.promptTokens + keep;
        j.sessionHash = j.promptHash.extend(s.gen, 0, keep);
        j.sessionLogits = logits;
        j.sessionText = j.promptText == null ? null : j.promptText.append(s.text.subSequence(0, keep == 0 ? 0 : s.textLen[keep - 1]));
    }

    private void complete(Job j) {
        Session session = j.req.session();
        Completion.SessionInfo info = null;
        if (session != null) {
            if (j.sessionRow != null) session.set(j.sessionRow, j.sessionTokens, j.sessionHash, j.sessionLogits, j.sessionText);
            info = new Completion.SessionInfo(session.tokens(), session.stateBytes(), j.reset);
            session.busy.set(false);
        }
        inFlight.decrementAndGet();
        j.gen.result.complete(new Completion(List.of(j.choices), j.promptTokens, j.cached, info, new Completion.Timing(j.submitted, j.prefilled, System.nanoTime())));
    }
}
