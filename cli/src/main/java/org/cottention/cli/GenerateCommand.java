package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.generate.Generator;
import org.cottention.generate.Sampler;
import org.cottention.model.GptJ;
import org.cottention.model.GptJSession;
import org.cottention.tokenizer.ByteLevelBpeTokenizer;
import org.cottention.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code cottention generate}: text from a causal LM, in constant memory for cosine models. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate text with a causal LM. The prompt is prefilled in parallel segments whose final cosine state",
                "is handed to the recurrent decoder: memory stays constant however many tokens are seen."})
public final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "Prompt text; repeat for several prompts decoded as one batch.")
        List<String> prompts;

        @Option(names = "--ids", paramLabel = "\"1 2 3\"", description = "Prompt token ids; repeat for several.")
        List<String> ids;
    }

    @Option(names = "--max-new-tokens", description = "Tokens to generate at most (default ${DEFAULT-VALUE}).")
    int maxNewTokens = 100;

    @Option(names = "--temperature", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    float temperature = 0.8f;

    @Option(names = "--top-k", description = "Keep the k most likely tokens, 0 = all (default ${DEFAULT-VALUE}).")
    int topK = 0;

    @Option(names = "--top-p", description = "Nucleus sampling mass, 1 = off (default ${DEFAULT-VALUE}).")
    float topP = 1f;

    @Option(names = "--repetition-penalty", description = "Penalty for tokens already present, 1 = off (default ${DEFAULT-VALUE}).")
    float repetitionPenalty = 1f;

    @Option(names = "--seed", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop a row when its text contains this string; repeatable.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Do not stop at the end-of-text token.")
    boolean ignoreEos;

    @Option(names = "--prefill-segment", description = "Prompt tokens per parallel prefill segment (default ${DEFAULT-VALUE}).")
    int segment = 512;

    @Option(names = "--json", description = "Print one JSON object per prompt: ids, text, stats.")
    boolean json;

    @Option(names = "--stats", description = "Also write the decoding statistics (the stats of --json) to this JSON file.")
    Path statsFile;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        GptJ m = model.loadGptJ();
        Tokenizer tok = model.tokenizerOrNull();
        int[][] prompts;
        if (input.prompts != null) {
            if (tok == null) throw new IllegalArgumentException("--prompt needs a tokenizer in " + model.dir + "; use --ids");
            prompts = input.prompts.stream().map(tok::encode).toArray(int[][]::new);
        } else {
            prompts = input.ids.stream().map(GenerateCommand::parseIds).toArray(int[][]::new);
        }
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("a prompt encodes to no tokens");
            if (p.length > m.cfg.nPositions())
                System.err.printf("warning: prompt of %d tokens is longer than n_positions %d the model was trained for; continuing%n",
                        p.length, m.cfg.nPositions());
        }
        Generator.Options opt = new Generator.Options(maxNewTokens,
                new Sampler.Settings(temperature, topK, topP, repetitionPenalty, seed), ignoreEos ? -1 : m.cfg.eosTokenId(), stop);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        boolean stream = !json && prompts.length == 1 && tok != null;
        ByteLevelBpeTokenizer.StreamDecoder sd = stream && tok instanceof ByteLevelBpeTokenizer b ? b.streamDecoder() : null;
        if (stream && input.prompts != null) out.print(input.prompts.get(0));
        Generator.Result r = Generator.generate(new GptJSession(m, segment), tok, prompts, opt, stream ? (row, id) -> {
            if (id == opt.eosId()) return;
            out.print(sd != null ? sd.push(id) : tok.decode(new int[]{id}));
        } : null);
        if (statsFile != null) Files.writeString(statsFile, new ObjectMapper().writeValueAsString(r.stats()));
        if (stream) {
            if (sd != null) out.print(sd.flush());
            out.println();
            Generator.Stats s = r.stats();
            System.err.printf("prefill %d tokens in %.0f ms; decoded %d tokens in %.0f ms (%.1f ms/token); state %,d bytes; peak heap %,d bytes%n",
                    s.prefillTokens(), s.prefillMs(), s.decodeTokens(), s.decodeMs(), s.decodeMs() / Math.max(1, s.decodeTokens()),
                    s.stateBytes(), s.peakHeapBytes());
        } else {
            ObjectMapper json = new ObjectMapper();
            for (Generator.Output o : r.outputs()) {
                ObjectNode n = json.createObjectNode();
                var ids = n.putArray("ids");
                for (int id : o.ids()) ids.add(id);
                n.put("text", o.text());
                n.put("finishReason", o.finishReason());
                n.set("stats", json.valueToTree(r.stats()));
                if (this.json) out.println(json.writeValueAsString(n));
                else out.println(o.text());
            }
        }
        return 0;
    }

    static int[] parseIds(String s) {
        String[] parts = s.trim().split("[\\s,]+");
        if (parts.length == 1 && parts[0].isEmpty()) return new int[0];
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--ids: '" + parts[i] + "' is not a token id");
            }
        }
        return ids;
    }
}
