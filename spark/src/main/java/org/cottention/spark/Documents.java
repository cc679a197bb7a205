package org.cottention.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapred.TextInputFormat;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The job's input as rows (id, text, error): text files (one document per non-blank line, id = its line number, or
 * file:line for several files), JSONL (one {"id", "text"} object per line; id = the line number when absent) or
 * Parquet (the id and text columns as they are). Lines are decoded here, strictly: a line that is not UTF-8 or not a
 * JSON object with a string "text" becomes a row with a null text and the reason (naming the line) in error, so the
 * transformer passes it through and the rest of the job is unaffected.
 */
public final class Documents {
    private Documents() {}

    public static final StructType SCHEMA = new StructType().add("id", DataTypes.StringType, true)
            .add("text", DataTypes.StringType, true).add("error", DataTypes.StringType, true);

    public enum Format {
        TEXT, JSONL, PARQUET;

        /** The format a path's name says (.jsonl/.json, .parquet, anything else: text). */
        static Format of(String path) {
            String n = path.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
            if (n.endsWith(".jsonl") || n.endsWith(".json")) return JSONL;
            if (n.endsWith(".parquet")) return PARQUET;
            return TEXT;
        }

        public static Format parse(String s) {
            return s.equals("auto") ? null : valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    /** Reads path (a file, a folder of files, or a glob) as documents; format null: from the name. */
    public static Dataset<Row> read(SparkSession spark, String path, Format format, String idCol, String textCol, int minPartitions) throws IOException {
        Format f = format != null ? format : Format.of(path);
        if (f == Format.PARQUET) {
            Dataset<Row> df = spark.read().parquet(path);
            List<String> cols = Arrays.asList(df.columns());
            if (!cols.contains(textCol)) throw new IllegalArgumentException(path + " has no text column \"" + textCol + "\" (columns: " + cols + "); set --text-column");
            if (!cols.contains(idCol)) throw new IllegalArgumentException(path + " has no id column \"" + idCol + "\" (columns: " + cols + "); set --id-column");
            return df.select(df.col(idCol).as("id"), df.col(textCol).cast(DataTypes.StringType).as("text"), functions.lit(null).cast(DataTypes.StringType).as("error"));
        }
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<String> files = files(spark, path);
        JavaRDD<Row> rows = null;
        for (String file : files) {
            String prefix = files.size() > 1 ? new org.apache.hadoop.fs.Path(file).getName() + ":" : "";
            boolean jsonl = f == Format.JSONL;
            JavaRDD<Row> r = sc.hadoopFile(file, TextInputFormat.class, LongWritable.class, Text.class, minPartitions)
                    .map(kv -> kv._2().copyBytes())
                    .zipWithIndex()
                    .mapPartitions(it -> {
                        ObjectMapper om = jsonl ? new ObjectMapper() : null;
                        List<Row> out = new ArrayList<>();
                        while (it.hasNext()) {
                            var line = it.next();
                            Row row = row(line._1(), line._2() + 1, prefix, om);
                            if (row != null) out.add(row);
                        }
                        return out.iterator();
                    });
            rows = rows == null ? r : rows.union(r);
        }
        return spark.createDataFrame(rows, SCHEMA);
    }

    /** The files under path (sorted; hidden files skipped), as Hadoop sees them: local, HDFS, object stores. */
    static List<String> files(SparkSession spark, String path) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
        FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
        FileStatus[] found = fs.globStatus(p);
        if (found == null || found.length == 0) throw new IOException("input not found: " + path);
        List<String> out = new ArrayList<>();
        for (FileStatus s : found) {
            if (s.isDirectory()) {
                for (FileStatus c : fs.listStatus(s.getPath()))
                    if (c.isFile() && !c.getPath().getName().startsWith(".") && !c.getPath().getName().startsWith("_")) out.add(c.getPath().toString());
            } else out.add(s.getPath().toString());
        }
        if (out.isEmpty()) throw new IOException("no files in " + path);
        out.sort(null);
        return out;
    }

    /** One line (without its line break) as a row; null for a blank line. */
    static Row row(byte[] bytes, long lineNo, String prefix, ObjectMapper jsonl) {
        String where = prefix.isEmpty() ? "line " + lineNo : prefix + lineNo;
        String line;
        try {
            line = decode(bytes);
        } catch (CharacterCodingException e) {
            return RowFactory.create(jsonl == null ? prefix + lineNo : null, null, where + ": " + e.getMessage());
        }
        if (line.endsWith("\r")) line = line.substring(0, line.length() - 1);
        if (line.isBlank()) return null;
        if (jsonl == null) return RowFactory.create(prefix + lineNo, line, null);
        JsonNode n;
        try {
            n = jsonl.readTree(line);
        } catch (IOException e) {
            return RowFactory.create(null, null, where + ": not JSON (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + ")");
        }
        String id = n.hasNonNull("id") ? n.get("id").asText() : prefix + lineNo;
        if (!n.path("text").isTextual()) return RowFactory.create(id, null, where + ": no string field \"text\"");
        return RowFactory.create(id, n.get("text").asText(), null);
    }

    /** Strict UTF-8: the error names the byte offset of the first malformed byte. */
    static String decode(byte[] bytes) throws CharacterCodingException {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = d.decode(in, out, true);
        if (r.isError()) throw new CharacterCodingException() {
            @Override
            public String getMessage() {
                return "invalid UTF-8 at byte " + in.position() + " of the line";
            }
        };
        d.flush(out);
        return out.flip().toString();
    }
}
