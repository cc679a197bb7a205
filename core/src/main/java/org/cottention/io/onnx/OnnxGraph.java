package org.cottention.io.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of an ONNX model (ModelProto) an importer needs: opsets, producer, and the graph's nodes (op type, name,
 * inputs, outputs, attributes), initialisers (name, type, shape, data) and graph inputs/outputs. Read with our own
 * {@link Protobuf} reader; tensor data stay slices of the file's bytes until asked for. Nothing is executed.
 */
public final class OnnxGraph {
    /** ONNX TensorProto.DataType values we read. */
    public static final int FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, DOUBLE = 11;

    public record Attribute(String name, float f, long i, String s, Tensor t, float[] floats, long[] ints) {}

    public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs, Map<String, Attribute> attributes) {
        public String input(int k) {
            return k < inputs.size() ? inputs.get(k) : "";
        }

        public String output(int k) {
            return k < outputs.size() ? outputs.get(k) : "";
        }
    }

    /** An initialiser (or a Constant's value): data either raw little-endian bytes or the typed repeated field. */
    public record Tensor(String name, int dataType, long[] dims, ByteBuffer raw, float[] floatData, long[] longData) {
        public long numel() {
            long n = 1;
            for (long d : dims) n = Math.multiplyExact(n, d);
            return n;
        }

        /** FLOAT data, row-major. */
        public float[] floats() throws IOException {
            if (dataType != FLOAT) throw new IOException("tensor " + name + " has ONNX data type " + dataType + ", not float");
            long n = numel();
            if (raw != null) {
                if (raw.remaining() != n * 4) throw new IOException("tensor " + name + " holds " + raw.remaining() + " bytes for " + n + " floats " + Arrays.toString(dims));
                float[] out = new float[(int) n];
                raw.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
                return out;
            }
            if (floatData == null || floatData.length != n) throw new IOException("tensor " + name + " holds " + (floatData == null ? 0 : floatData.length) + " floats for shape " + Arrays.toString(dims));
            return floatData;
        }

        /** INT64 or INT32 data as longs; a FLOAT scalar is not accepted. */
        public long[] longs() throws IOException {
            long n = numel();
            if (dataType != INT64 && dataType != INT32) throw new IOException("tensor " + name + " has ONNX data type " + dataType + ", not an integer");
            if (raw != null) {
                int w = dataType == INT64 ? 8 : 4;
                if (raw.remaining() != n * w) throw new IOException("tensor " + name + " holds " + raw.remaining() + " bytes for " + n + " values");
                long[] out = new long[(int) n];
                ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i++) out[i] = w == 8 ? b.getLong() : b.getInt();
                return out;
            }
            if (longData == null || longData.length != n) throw new IOException("tensor " + name + " holds no data for shape " + Arrays.toString(dims));
            return longData;
        }

        /** One number, whatever its type (for constants such as the LayerNorm epsilon or the attention scale). */
        public double scalar() throws IOException {
            if (numel() != 1) throw new IOException("tensor " + name + " is not a scalar: " + Arrays.toString(dims));
            return dataType == FLOAT ? floats()[0] : longs()[0];
        }
    }

    public final long irVersion;
    public final String producer;
    public final Map<String, Long> opsets;                // domain ("" = ai.onnx) -> version
    public final List<Node> nodes;
    public final Map<String, Tensor> initializers;        // in file order
    public final List<String> inputs, outputs;

    private OnnxGraph(long ir, String producer, Map<String, Long> opsets, List<Node> nodes, Map<String, Tensor> init, List<String> in, List<String> out) {
        this.irVersion = ir;
        this.producer = producer;
        this.opsets = opsets;
        this.nodes = nodes;
        this.initializers = init;
        this.inputs = in;
        this.outputs = out;
    }

    /** Parses a whole ModelProto; {@code what} names the file in messages. */
    public static OnnxGraph parse(ByteBuffer bytes, String what) throws IOException {
        Protobuf p = new Protobuf(bytes, what);
        long ir = -1;
        String producer = "";
        Map<String, Long> opsets = new LinkedHashMap<>();
        Protobuf graph = null;
        while (p.next()) {
            switch (p.field()) {
                case 1 -> ir = p.varint();
                case 2 -> producer = p.string();
                case 7 -> graph = p.message();
                case 8 -> {
                    Protobuf o = p.message();
                    String domain = "";
                    long version = -1;
                    while (o.next()) {
                        if (o.field() == 1) domain = o.string();
                        else if (o.field() == 2) version = o.varint();
                        else o.skip();
                    }
                    opsets.put(domain, version);
                }
                default -> p.skip();
            }
        }
        if (ir < 1 || graph == null) throw new IOException("not an ONNX model: " + what + (ir < 1 ? " has no IR version" : " has no graph"));
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> init = new LinkedHashMap<>();
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        while (graph.next()) {
            switch (graph.field()) {
                case 1 -> nodes.add(node(graph.message()));
                case 5 -> {
                    Tensor t = tensor(graph.message());
                    if (init.put(t.name(), t) != null) throw graph.bad("initialiser " + t.name() + " appears twice");
                }
                case 11 -> in.add(valueInfoName(graph.message()));
                case 12 -> out.add(valueInfoName(graph.message()));
                default -> graph.skip();
            }
        }
        return new OnnxGraph(ir, producer, opsets, nodes, init, in, out);
    }

    private static String valueInfoName(Protobuf v) throws IOException {
        String name = "";
        while (v.next()) {
            if (v.field() == 1) name = v.string();
            else v.skip();
        }
        return name;
    }

    private static Node node(Protobuf n) throws IOException {
        String name = "", op = "", domain = "";
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        while (n.next()) {
            switch (n.field()) {
                case 1 -> in.add(n.string());
                case 2 -> out.add(n.string());
                case 3 -> name = n.string();
                case 4 -> op = n.string();
                case 5 -> {
                    Attribute a = attribute(n.message());
                    attrs.put(a.name(), a);
                }
                case 7 -> domain = n.string();
                default -> n.skip();
            }
        }
        if (op.isEmpty()) throw n.bad("a node without op_type");
        return new Node(name, op, domain, List.copyOf(in), List.copyOf(out), attrs);
    }

    private static Attribute attribute(Protobuf a) throws IOException {
        String name = "", s = null;
        float f = 0;
        long i = 0;
        Tensor t = null;
        Protobuf.FloatList fs = new Protobuf.FloatList();
        Protobuf.LongList is = new Protobuf.LongList();
        while (a.next()) {
            switch (a.field()) {
                case 1 -> name = a.string();
                case 2 -> f = a.fixed32Float();
                case 3 -> i = a.varint();
                case 4 -> s = a.string();
                case 5 -> t = tensor(a.message());
                case 7 -> a.floats(fs);
                case 8 -> a.longs(is);
                default -> a.skip();
            }
        }
        return new Attribute(name, f, i, s, t, fs.toArray(), is.toArray());
    }

    private static Tensor tensor(Protobuf t) throws IOException {
        Protobuf.LongList dims = new Protobuf.LongList(), longs = new Protobuf.LongList();
        Protobuf.FloatList floats = new Protobuf.FloatList();
        int type = 0;
        String name = "";
        ByteBuffer raw = null;
        boolean external = false;
        while (t.next()) {
            switch (t.field()) {
                case 1 -> t.longs(dims);
                case 2 -> type = (int) t.varint();
                case 4 -> t.floats(floats);
                case 5, 7 -> t.longs(longs);   // int32_data (varints) and int64_data
                case 8 -> name = t.string();
                case 9 -> raw = t.bytes();
                case 14 -> external = t.varint() == 1;
                default -> t.skip();
            }
        }
        if (external) throw t.bad("tensor " + name + " keeps its data in an external file, which is not supported");
        long[] d = dims.toArray();
        long n = 1;
        for (long x : d) {
            if (x < 0 || (x > 0 && n > Integer.MAX_VALUE / x)) throw t.bad("tensor " + name + " has shape " + Arrays.toString(d));
            n *= x;
        }
        return new Tensor(name, type, d, raw, floats.n > 0 ? floats.toArray() : null, longs.n > 0 ? longs.toArray() : null);
    }

    /** The node that produces each value name. */
    public Map<String, Node> producers() {
        Map<String, Node> m = new LinkedHashMap<>();
        for (Node n : nodes) for (String o : n.outputs()) m.put(o, n);
        return m;
    }

    /** The nodes that consume each value name. */
    public Map<String, List<Node>> consumers() {
        Map<String, List<Node>> m = new LinkedHashMap<>();
        for (Node n : nodes) for (String i : n.inputs()) m.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
        return m;
    }
}
