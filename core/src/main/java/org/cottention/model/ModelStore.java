package org.cottention.model;

import org.cottention.io.Checkpoint;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.io.TensorSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * Loads models from HF-layout folders (config.json + model.safetensors / pytorch_model.bin, sharded or not) into our
 * flat parameter buffers. The attention type comes from --attention, else the config's attention_type, else the
 * weights: cosine when {@code norm_const} tensors are present.
 */
public final class ModelStore {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ModelStore.class);

    private ModelStore() {}

    /** A GPT-J model from a folder, weights in whichever format the folder has. */
    public static GptJ loadGptJ(Path dir, AttentionType attention) throws IOException {
        return loadGptJ(dir, attention, Checkpoint.Format.AUTO);
    }

    public static GptJ loadGptJ(Path dir, AttentionType attention, Checkpoint.Format format) throws IOException {
        return loadGptJ(dir, attention, format, WeightStorage.HEAP);
    }

    /**
     * A GPT-J model whose matrices live as {@code storage} says. For MAPPED and BF16 the checkpoint stays mapped for
     * the life of the process (the model's matrices are views into it when the file's dtype fits; otherwise they are
     * converted once into off-heap memory and the file is closed).
     */
    public static GptJ loadGptJ(Path dir, AttentionType attention, Checkpoint.Format format, WeightStorage storage) throws IOException {
        return loadGptJ(dir, attention, format, storage, null, null);
    }

    /**
     * As {@link #loadGptJ(Path, AttentionType, Checkpoint.Format, WeightStorage)} with gated attention's options
     * overridden (math doc §8; null = the config's): {@code gate} (cosine_gate) and {@code convSize} (qkv_conv_size).
     * With an override, gating tensors the checkpoint lacks start neutral — a shut gate and the identity convolution,
     * so a plain checkpoint loaded as a gated model computes exactly what it did — and gating tensors the model no
     * longer has are ignored. Gating tensors of the wrong shape are an error naming the tensor either way.
     */
    public static GptJ loadGptJ(Path dir, AttentionType attention, Checkpoint.Format format, WeightStorage storage,
                                CosineGate gate, Integer convSize) throws IOException {
        GptJConfig cfg = GptJConfig.read(dir.resolve("config.json"));
        boolean regate = gate != null || convSize != null;
        TensorSource src = gptJNames(Checkpoint.open(dir, format));
        boolean keepOpen = false;
        try {
            GptJConfig c = cfg.withAttention(attentionType(attention, cfg.attentionType(), src));
            if (regate) {
                try {
                    c = c.withGating(gate != null ? gate : c.cosineGate(), convSize != null ? convSize : c.qkvConvSize());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(dir.resolve("config.json") + " with the options given: " + e.getMessage(), e);
                }
            }
            GptJ m = new GptJ(c, 64, storage);
            AttentionSwitch sw = AttentionSwitch.of(attention, m.cfg.attentionType(), src, dir);
            Predicate<String> newGating = n -> regate && GptJ.isGatingParameter(n) && !src.contains(n);
            Predicate<String> oldGating = n -> regate && GptJ.isGatingParameter(n) && !m.params.has(n);
            Loaded loaded = loadWeights(m.params, src, n -> sw.optional(n) || newGating.test(n), n -> sw.ignorable(n) || oldGating.test(n));
            sw.initialise(m.params, loaded.skipped());
            Set<String> neutral = new LinkedHashSet<>();
            for (String n : loaded.skipped()) if (GptJ.isGatingParameter(n)) neutral.add(n);
            if (!neutral.isEmpty()) {
                m.neutralGating(neutral);
                log.info("{}: gated attention's parameters the checkpoint lacks start neutral (shut gate, identity convolution): {}", dir, neutral);
            }
            keepOpen = loaded.mapped();
            return m;
        } finally {
            if (!keepOpen) src.close();
        }
    }

    /**
     * Weights of one attention type loaded into a model of the other when asked for explicitly (an --attention
     * override): a softmax model skips the checkpoint's norm_const tensors, and a cosine model whose checkpoint has
     * none starts them at the initial value, as a new model would. The other weights are the same in both. Without an
     * override a missing or unexpected norm_const stays an error (the checkpoint does not match its own config).
     */
    record AttentionSwitch(boolean dropNormConst, boolean addNormConst) {
        static AttentionSwitch of(AttentionType override, AttentionType model, TensorSource src, Path dir) {
            if (override == null) return new AttentionSwitch(false, false);
            boolean has = src.names().stream().anyMatch(n -> n.endsWith("norm_const"));
            AttentionSwitch sw = new AttentionSwitch(model == AttentionType.SOFTMAX && has, model == AttentionType.COSINE && !has);
            if (sw.dropNormConst) log.info("{}: cosine weights used with softmax attention: norm_const ignored", dir);
            if (sw.addNormConst) log.info("{}: softmax weights used with cosine attention: norm_const starts at {}", dir, Initialiser.NORM_CONST);
            return sw;
        }

        boolean ignorable(String name) {
            return dropNormConst && name.endsWith("norm_const");
        }

        boolean optional(String name) {
            return addNormConst && name.endsWith("norm_const");
        }

        /** Sets the norm_const parameters among {@code skipped} (not in the checkpoint) to their initial value. */
        void initialise(Params p, Set<String> skipped) {
            for (Params.View v : p.views())
                if (skipped.contains(v.name()) && optional(v.name()))
                    Arrays.fill(p.data, v.offset(), v.offset() + v.size(), Initialiser.NORM_CONST);
        }
    }

    /**
     * A checkpoint saved from HF {@code BertModel} (sentence-embedding models are) names its tensors without the
     * {@code bert.} prefix that {@code BertFor*} and our parameters carry; HF accepts both, and so do we.
     */
    public static TensorSource bertNames(TensorSource src) throws IOException {
        return withPrefix(src, "bert.embeddings.word_embeddings.weight", "bert.", "embeddings.", "encoder.", "pooler.");
    }

    /** The same for GPT-J: {@code GPTJModel} saves {@code wte.weight, h.0...}, without {@code transformer.}. */
    public static TensorSource gptJNames(TensorSource src) throws IOException {
        return withPrefix(src, "transformer.wte.weight", "transformer.", "wte.", "h.", "ln_f.");
    }

    private static TensorSource withPrefix(TensorSource src, String probe, String prefix, String... roots) throws IOException {
        if (src.contains(probe) || !src.contains(probe.substring(prefix.length()))) return src;
        try {
            return org.cottention.io.RenamedSource.prefixing(src, prefix, roots);
        } catch (IOException e) {
            src.close();
            throw e;
        }
    }

    static AttentionType attentionType(AttentionType override, AttentionType fromConfig, TensorSource src) {
        if (override != null) return override;
        if (fromConfig != null) return fromConfig;
        return src.names().stream().anyMatch(n -> n.endsWith("norm_const")) ? AttentionType.COSINE : AttentionType.SOFTMAX;
    }

    /**
     * Copies every parameter from the source, or fails listing all missing, unexpected and mis-shaped tensors.
     * Names in {@code ignorable} (e.g. buffers HF saves but we derive) may be present without being parameters.
     */
    public static boolean loadWeights(Params p, TensorSource src, String... ignorable) throws IOException {
        return loadWeights(p, src, n -> false, n -> {
            for (String ig : ignorable) if (n.endsWith(ig)) return true;
            return false;
        }).mapped();
    }

    /**
     * What {@link #loadWeights(Params, TensorSource, Predicate, Predicate)} did: the optional parameters it did not
     * load, and whether some matrices are views into the source's mapping (then the source must stay open).
     */
    public record Loaded(Set<String> skipped, boolean mapped) {}

    /**
     * Like {@link #loadWeights(Params, TensorSource, String...)}, except that parameters matching {@code optional}
     * may be missing or mis-shaped (they keep their current values: the caller initialised them) and source tensors
     * matching {@code ignorable} are skipped.
     */
    public static Loaded loadWeights(Params p, TensorSource src, Predicate<String> optional, Predicate<String> ignorable) throws IOException {
        List<String> missing = new ArrayList<>(), shape = new ArrayList<>(), unexpected = new ArrayList<>();
        Set<String> skipped = new LinkedHashSet<>();
        for (Params.View v : p.views()) {
            if (!src.contains(v.name())) {
                if (optional.test(v.name())) skipped.add(v.name());
                else missing.add(v.name());
                continue;
            }
            long[] s = src.info(v.name()).shape();
            if (!Arrays.equals(s, v.shapeLong())) {
                if (optional.test(v.name())) skipped.add(v.name());
                else shape.add(v.name() + " is " + Arrays.toString(s) + ", expected " + Arrays.toString(v.shape()));
            }
        }
        for (String n : src.names()) {
            if (p.has(n) || ignorable.test(n)) continue;
            unexpected.add(n);
        }
        if (!missing.isEmpty() || !shape.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder("weights in " + src.path() + " do not fit the config:");
            if (!missing.isEmpty()) sb.append(" missing ").append(summary(missing)).append(';');
            if (!shape.isEmpty()) sb.append(" mis-shaped ").append(summary(shape)).append(';');
            if (!unexpected.isEmpty()) sb.append(" unexpected ").append(summary(unexpected)).append(';');
            throw new IOException(sb.substring(0, sb.length() - 1));
        }
        boolean mapped = false;
        for (Params.View v : p.views()) {
            if (skipped.contains(v.name())) continue;
            Params.Slot slot = p.slot(v.name());
            if (slot != null) {
                mapped |= loadOffHeap(slot, v, src);
                continue;
            }
            float[] x = src.floats(v.name());
            checkFinite(v.name(), src, x);
            System.arraycopy(x, 0, p.data, v.offset(), v.size());
        }
        return new Loaded(skipped, mapped);
    }

    // ------------------------------------------------------------------------------------------------ BERT

    /** Tensors HF saves that are not parameters here: position_ids buffers and the tied decoder's aliases. */
    static boolean bertIgnorable(String n) {
        return n.endsWith("position_ids") || n.equals("cls.predictions.decoder.weight") || n.equals("cls.predictions.decoder.bias");
    }

    /** The heads a BERT checkpoint carries. */
    static Bert.HeadSet bertHeadsIn(TensorSource src) {
        boolean mlm = src.contains("cls.predictions.bias"), pooler = src.contains("bert.pooler.dense.weight");
        return new Bert.HeadSet(mlm, pooler, pooler && src.contains("cls.seq_relationship.weight"), pooler && src.contains("classifier.weight"));
    }

    /** A BERT model from a folder with the heads its weights carry; attention from the override, config or weights. */
    public static Bert loadBert(Path dir, AttentionType attention) throws IOException {
        return loadBert(dir, attention, Checkpoint.Format.AUTO);
    }

    /** The same, reading the weights in the given format (safetensors or pytorch_model.bin; AUTO: whichever is there). */
    public static Bert loadBert(Path dir, AttentionType attention, Checkpoint.Format format) throws IOException {
        return loadBert(dir, attention, null, c -> c, 0, format);
    }

    /**
     * A BERT model from a folder with the given heads (null: those in the weights). Head tensors the checkpoint lacks
     * (or has in another shape, e.g. a classifier over other labels) are freshly initialised from seed, with a log
     * line; heads the checkpoint has but that are not wanted are ignored. {@code adjust} edits the config first
     * (e.g. sets the labels of a new classifier). The encoder itself must be complete.
     */
    public static Bert loadBert(Path dir, AttentionType attention, Bert.HeadSet wanted, UnaryOperator<BertConfig> adjust, long seed) throws IOException {
        return loadBert(dir, attention, wanted, adjust, seed, Checkpoint.Format.AUTO);
    }

    static Bert loadBert(Path dir, AttentionType attention, Bert.HeadSet wanted, UnaryOperator<BertConfig> adjust, long seed,
                         Checkpoint.Format format) throws IOException {
        return loadBert(dir, attention, wanted, adjust, seed, format, WeightStorage.HEAP);
    }

    /**
     * A BERT model whose matrices live as {@code storage} says (off-heap: for inference; the checkpoint stays mapped
     * for the life of the process when the model's matrices are views into it, as for GPT-J).
     */
    public static Bert loadBert(Path dir, AttentionType attention, Checkpoint.Format format, WeightStorage storage) throws IOException {
        return loadBert(dir, attention, null, c -> c, 0, format, storage);
    }

    static Bert loadBert(Path dir, AttentionType attention, Bert.HeadSet wanted, UnaryOperator<BertConfig> adjust, long seed,
                         Checkpoint.Format format, WeightStorage storage) throws IOException {
        BertConfig cfg = BertConfig.read(dir.resolve("config.json"));
        TensorSource src = bertNames(Checkpoint.open(dir, format));
        boolean keepOpen = false;
        try {
            Bert.HeadSet present = bertHeadsIn(src);
            Bert.HeadSet heads = wanted != null ? wanted : present;
            cfg = adjust.apply(cfg.withAttention(attentionType(attention, cfg.attentionType(), src)));
            Bert m = new Bert(cfg, heads, storage);
            AttentionSwitch sw = AttentionSwitch.of(attention, cfg.attentionType(), src, dir);
            Predicate<String> isHead = n -> !n.startsWith("bert.embeddings.") && !n.startsWith("bert.encoder.");
            Loaded loaded = loadWeights(m.params, src, n -> isHead.test(n) || sw.optional(n),
                    n -> bertIgnorable(n) || sw.ignorable(n) || (isHead.test(n) && !m.params.has(n)));
            Set<String> fresh = loaded.skipped();
            if (!fresh.isEmpty()) {
                m.initialiseOnly(fresh, seed); // norm_const included: the initialiser gives it its initial value
                log.info("{}: initialised parameters the checkpoint does not have {}", dir, fresh);
            }
            keepOpen = loaded.mapped();
            return m;
        } finally {
            if (!keepOpen) src.close();
        }
    }

    private static void checkFinite(String name, TensorSource src, float[] x) throws IOException {
        for (int i = 0; i < x.length; i++)
            if (!Float.isFinite(x[i]))
                throw new IOException("weight " + name + " in " + src.path() + " holds a non-finite value (" + x[i] + ") at flat index " + i);
    }

    /**
     * Fills an off-heap slot (the storage was chosen by the model: BF16 or F32): a view into the mapping when the file
     * holds the tensor contiguously in that dtype (returns true: the source must stay open), else a one-time
     * conversion into off-heap memory, one tensor on the heap at a time. Finiteness is checked either way.
     */
    private static boolean loadOffHeap(Params.Slot slot, Params.View v, TensorSource src) throws IOException {
        boolean bf16 = slot.bf16Wanted();
        DType want = bf16 ? DType.BF16 : DType.F32;
        var info = src.info(v.name());
        MemorySegment raw = info.dtype() == want ? src.raw(v.name()) : null;
        if (raw != null) {
            checkFinite(v.name(), src, raw, bf16);
            slot.set(raw, bf16);
            return true;
        }
        float[] x = src.floats(v.name());
        checkFinite(v.name(), src, x);
        MemorySegment seg = Arena.ofAuto().allocate((long) x.length * want.bytes, 64);
        for (int i = 0; i < x.length; i++) {
            if (bf16) seg.set(BF16, 2L * i, SafeTensors.toBf16(x[i]));
            else seg.set(F32, 4L * i, x[i]);
        }
        slot.set(seg, bf16);
        return false;
    }

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Scans mapped weights for NaN/infinity by exponent bits (all ones), without widening them onto the heap. */
    private static void checkFinite(String name, TensorSource src, MemorySegment raw, boolean bf16) throws IOException {
        long n = raw.byteSize() / (bf16 ? 2 : 4);
        for (long i = 0; i < n; i++) {
            // exponent bits all ones: infinity or NaN
            boolean bad = bf16 ? (raw.get(BF16, 2 * i) & 0x7f80) == 0x7f80 : (raw.get(I32, 4 * i) & 0x7f800000) == 0x7f800000;
            if (bad) throw new IOException("weight " + name + " in " + src.path() + " holds a non-finite value at flat index " + i);
        }
    }

    private static String summary(List<String> names) {
        return names.size() <= 12 ? names.toString() : names.subList(0, 12) + " and " + (names.size() - 12) + " more";
    }
}
