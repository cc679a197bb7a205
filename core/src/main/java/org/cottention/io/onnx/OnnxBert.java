package org.cottention.io.onnx;

import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.AttentionType;
import org.cottention.model.BertConfig;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A BERT encoder read from an ONNX export (PyTorch's, as in the langchain4j sentence-embedding jars): embeddings,
 * biases and LayerNorm weights keep their PyTorch names, the linear weights are anonymous initialisers
 * ({@code onnx::MatMul_N}, stored [in, out]). Each is mapped by following the graph: the Add that takes the bias
 * {@code encoder.layer.i.<part>.bias} also takes the output of a MatMul whose weight is the initialiser; the MatMul's
 * node name ({@code /encoder/layer.i/<part>/MatMul}) must agree, the shapes must fit the bias, and the weight is
 * transposed into PyTorch's [out, in]. The config comes from the graph: widths from the tables and weights, head
 * dim from the attention scale (scores / sqrt(D)), eps from the decomposed LayerNorm, GELU from Erf.
 */
public final class OnnxBert {
    /** The encoder: config and tensors under HF {@code BertModel} names (no {@code bert.} prefix), PyTorch layout. */
    public record Imported(BertConfig config, List<SafeTensors.Entry> tensors, String producer, long opset) {}

    private static final Set<String> QUANTISED = Set.of("MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear",
            "DequantizeLinear", "QLinearMatMul", "ConvInteger", "QLinearConv");
    /** What PyTorch's export of a BERT encoder is made of (shape arithmetic, masks, decomposed LayerNorm, exact GELU). */
    private static final Set<String> SUPPORTED = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "MatMul", "Softmax",
            "ReduceMean", "Gather", "Shape", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Transpose", "Cast", "Constant",
            "ConstantOfShape", "Slice", "Equal", "Where", "Expand", "Not", "Identity", "Range");
    private static final String[] PARTS = {"attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", "intermediate.dense", "output.dense"};
    private static final Pattern BIAS = Pattern.compile("(?:bert\\.)?encoder\\.layer\\.(\\d+)\\.(attention\\.self\\.query|attention\\.self\\.key|"
            + "attention\\.self\\.value|attention\\.output\\.dense|intermediate\\.dense|output\\.dense)\\.bias");
    private static final Pattern MATMUL_NAME = Pattern.compile("/(?:bert/)?encoder/layer\\.(\\d+)/(.+)/MatMul");

    private OnnxBert() {}

    /**
     * @param what       the file, for messages
     * @param fp32Name   what to call the float artifact when the graph is quantised (e.g. "all-minilm-l6-v2.onnx")
     */
    public static Imported read(ByteBuffer bytes, String what, String fp32Name) throws IOException {
        OnnxGraph g = OnnxGraph.parse(bytes, what);
        for (OnnxGraph.Node n : g.nodes)
            if (QUANTISED.contains(n.opType()))
                throw new IOException(what + " is a quantised (int8) graph (" + n.opType() + " at node " + n.name()
                        + "); import the float32 export instead" + (fp32Name != null ? " (" + fp32Name + ")" : ""));
        Map<String, Integer> unsupported = new TreeMap<>();
        for (OnnxGraph.Node n : g.nodes)
            if (!SUPPORTED.contains(n.opType()) || !(n.domain().isEmpty() || n.domain().equals("ai.onnx"))) unsupported.merge(n.opType(), 1, Integer::sum);
        if (!unsupported.isEmpty())
            throw new IOException(what + ": unsupported graph: operators " + unsupported.keySet() + " are not part of a BERT encoder export we can import");
        Map<String, OnnxGraph.Tensor> init = g.initializers;
        Map<String, OnnxGraph.Node> producers = g.producers();
        String pre = init.containsKey("embeddings.word_embeddings.weight") ? "" : init.containsKey("bert.embeddings.word_embeddings.weight") ? "bert." : null;
        if (pre == null) throw new IOException(what + ": unsupported graph: no embeddings.word_embeddings.weight initialiser (not a BERT encoder export)");

        // linear weights: follow each named bias's Add back to its MatMul
        Map<String, float[]> weights = new LinkedHashMap<>();   // HF weight name -> [out, in]
        Map<String, long[]> shapes = new LinkedHashMap<>();
        int layers = 0;
        for (OnnxGraph.Node add : g.nodes) {
            if (!add.opType().equals("Add") || add.inputs().size() != 2) continue;
            for (int k = 0; k < 2; k++) {
                Matcher m = BIAS.matcher(add.input(k));
                if (!m.matches() || !init.containsKey(add.input(k))) continue;
                int layer = Integer.parseInt(m.group(1));
                String part = m.group(2), name = "encoder.layer." + layer + "." + part + ".weight";
                OnnxGraph.Node mm = producers.get(add.input(1 - k));
                if (mm == null || !mm.opType().equals("MatMul"))
                    throw new IOException(what + ": unsupported graph: bias " + add.input(k) + " is not added to a MatMul output");
                Matcher nm = MATMUL_NAME.matcher(mm.name());
                if (nm.matches() && (Integer.parseInt(nm.group(1)) != layer || !nm.group(2).replace('/', '.').equals(part)))
                    throw new IOException(what + ": graph is inconsistent: MatMul node " + mm.name() + " feeds the bias " + add.input(k));
                OnnxGraph.Tensor w = init.get(mm.input(1));
                if (w == null) throw new IOException(what + ": unsupported graph: MatMul " + mm.name() + " has no weight initialiser");
                long out = init.get(add.input(k)).numel();
                if (w.dims().length != 2 || w.dims()[1] != out)
                    throw new IOException(what + ": weight " + w.name() + " of " + mm.name() + " has shape " + java.util.Arrays.toString(w.dims())
                            + ", which does not fit its bias " + add.input(k) + " of " + out);
                if (weights.put(name, transpose(w.floats(), (int) w.dims()[0], (int) out)) != null)
                    throw new IOException(what + ": graph is inconsistent: two MatMuls map to " + name);
                shapes.put(name, new long[]{out, w.dims()[0]});
                layers = Math.max(layers, layer + 1);
            }
        }
        if (layers == 0) throw new IOException(what + ": unsupported graph: no encoder layers found (no Add of encoder.layer.N...bias to a MatMul)");
        for (int l = 0; l < layers; l++)
            for (String p : PARTS)
                if (!weights.containsKey("encoder.layer." + l + "." + p + ".weight"))
                    throw new IOException(what + ": unsupported graph: no weight found for encoder.layer." + l + "." + p);
        long softmax = g.nodes.stream().filter(n -> n.opType().equals("Softmax")).count();
        long erf = g.nodes.stream().filter(n -> n.opType().equals("Erf")).count();
        if (softmax != layers) throw new IOException(what + ": unsupported graph: " + softmax + " Softmax nodes for " + layers + " layers (softmax attention expected)");
        if (erf != layers) throw new IOException(what + ": unsupported graph: " + erf + " Erf nodes for " + layers + " layers (exact GELU expected)");

        long[] wordShape = need(init, pre + "embeddings.word_embeddings.weight", what).dims();
        int vocab = (int) wordShape[0], hidden = (int) wordShape[1];
        int positions = (int) need(init, pre + "embeddings.position_embeddings.weight", what).dims()[0];
        int types = (int) need(init, pre + "embeddings.token_type_embeddings.weight", what).dims()[0];
        int inner = (int) shapes.get("encoder.layer.0.intermediate.dense.weight")[0];
        int headDim = headDim(g, producers, what);
        if (hidden % headDim != 0) throw new IOException(what + ": head dim " + headDim + " from the attention scale does not divide hidden size " + hidden);
        float eps = layerNormEps(g, producers, what);
        BertConfig cfg = new BertConfig(vocab, hidden, layers, hidden / headDim, inner, positions, types, eps, "gelu", 0,
                AttentionType.SOFTMAX, false, headDim, List.of(), false);

        List<SafeTensors.Entry> out = new ArrayList<>();
        for (String t : new String[]{"word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"})
            out.add(entry(init, pre + "embeddings." + t, "embeddings." + t, what));
        for (int l = 0; l < layers; l++) {
            String p = "encoder.layer." + l + ".";
            for (String part : PARTS) {
                out.add(new SafeTensors.Entry(p + part + ".weight", DType.F32, shapes.get(p + part + ".weight"), weights.get(p + part + ".weight")));
                out.add(entry(init, pre + p + part + ".bias", p + part + ".bias", what));
            }
            for (String ln : new String[]{"attention.output.LayerNorm.", "output.LayerNorm."}) {
                out.add(entry(init, pre + p + ln + "weight", p + ln + "weight", what));
                out.add(entry(init, pre + p + ln + "bias", p + ln + "bias", what));
            }
        }
        for (OnnxGraph.Tensor t : init.values())
            if (t.name().startsWith(pre + "pooler.")) throw new IOException(what + ": graph has a pooler (" + t.name() + "); only encoders without one (last_hidden_state) are imported");
        long opset = g.opsets.getOrDefault("", g.opsets.getOrDefault("ai.onnx", -1L));
        return new Imported(cfg, out, g.producer, opset);
    }

    private static OnnxGraph.Tensor need(Map<String, OnnxGraph.Tensor> init, String name, String what) throws IOException {
        OnnxGraph.Tensor t = init.get(name);
        if (t == null) throw new IOException(what + ": unsupported graph: no initialiser " + name);
        return t;
    }

    private static SafeTensors.Entry entry(Map<String, OnnxGraph.Tensor> init, String name, String as, String what) throws IOException {
        OnnxGraph.Tensor t = need(init, name, what);
        return new SafeTensors.Entry(as, DType.F32, t.dims(), t.floats());
    }

    /** [in, out] -> [out, in]. */
    static float[] transpose(float[] w, int in, int out) {
        float[] t = new float[w.length];
        for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) t[o * in + i] = w[i * out + o];
        return t;
    }

    /** A value's constant content: an initialiser or a Constant node's tensor; null when computed. */
    static OnnxGraph.Tensor constant(String value, Map<String, OnnxGraph.Node> producers, OnnxGraph g) {
        if (g.initializers.containsKey(value)) return g.initializers.get(value);
        OnnxGraph.Node n = producers.get(value);
        if (n != null && n.opType().equals("Constant") && n.attributes().containsKey("value")) return n.attributes().get("value").t();
        return null;
    }

    /** D from the attention scale: Softmax(Add(Div(QK^T, sqrt(D)), mask)) or with Mul by 1/sqrt(D). */
    private static int headDim(OnnxGraph g, Map<String, OnnxGraph.Node> producers, String what) throws IOException {
        for (OnnxGraph.Node sm : g.nodes) {
            if (!sm.opType().equals("Softmax")) continue;
            OnnxGraph.Node x = producers.get(sm.input(0));
            while (x != null && x.opType().equals("Add")) {  // the additive mask
                OnnxGraph.Node a = producers.get(x.input(0)), b = producers.get(x.input(1));
                x = a != null && (a.opType().equals("Div") || a.opType().equals("Mul")) ? a : b;
            }
            if (x == null || !(x.opType().equals("Div") || x.opType().equals("Mul"))) break;
            OnnxGraph.Tensor c = constant(x.input(1), producers, g);
            if (c == null) break;
            double s = c.scalar(), d2 = x.opType().equals("Div") ? s * s : 1 / (s * s);
            long d = Math.round(d2);
            if (d < 1 || Math.abs(d2 - d) > 1e-3 * d) throw new IOException(what + ": attention scale " + s + " is not 1/sqrt of a head dim");
            return (int) d;
        }
        throw new IOException(what + ": unsupported graph: cannot find the attention scale (scores / sqrt(head dim)) before the Softmax");
    }

    /** eps of the first decomposed LayerNorm: Sqrt(Add(ReduceMean(Pow(x - mean, 2)), eps)); all must agree. */
    private static float layerNormEps(OnnxGraph g, Map<String, OnnxGraph.Node> producers, String what) throws IOException {
        Double eps = null;
        for (OnnxGraph.Node sq : g.nodes) {
            if (!sq.opType().equals("Sqrt")) continue;
            OnnxGraph.Node add = producers.get(sq.input(0));
            if (add == null || !add.opType().equals("Add")) continue;
            OnnxGraph.Tensor c = constant(add.input(1), producers, g);
            if (c == null) c = constant(add.input(0), producers, g);
            if (c == null) continue;
            double e = c.scalar();
            if (eps != null && Math.abs(e - eps) > 1e-3 * eps) throw new IOException(what + ": LayerNorms with different eps (" + eps + ", " + e + ") are not supported");
            eps = e;
        }
        if (eps == null || !(eps > 0)) throw new IOException(what + ": unsupported graph: cannot find the LayerNorm epsilon");
        return eps.floatValue();
    }
}
