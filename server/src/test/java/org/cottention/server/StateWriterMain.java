package org.cottention.server;

import org.cottention.serve.EngineConfig;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.serve.Session;

import java.nio.file.Path;
import java.util.List;

/** A child process for {@link KillWhileWritingTest}: continues one session forever, saving its state after every turn. */
public final class StateWriterMain {
    public static void main(String[] args) throws Exception {
        InferenceEngine engine = InferenceEngine.load(Path.of(args[0]), EngineConfig.defaults());
        FileSessionStore store = new FileSessionStore(Path.of(args[1]));
        Session s = engine.newSession();
        SamplingParams p = new SamplingParams(0f, 1f, 0, 1f, 1, List.of(), 0L, 1, true);
        engine.generate(InferenceEngine.Request.ids(new int[]{1, 2, 3}, s, p, null));
        store.save("victim", engine.exportState(s));
        System.out.println("ready");
        System.out.flush();
        for (int i = 0; ; i++) {
            engine.generate(InferenceEngine.Request.ids(new int[]{1 + i % 50}, null, p, null));
            int[] more = new int[(int) s.tokens() + 1];
            engine.generate(InferenceEngine.Request.ids(more, s, p, null)); // does not extend the history: a fresh state each time
            store.save("victim", engine.exportState(s));
        }
    }
}
