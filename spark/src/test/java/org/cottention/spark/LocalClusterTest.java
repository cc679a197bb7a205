package org.cottention.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Data-parallel training with two executor JVMs (local-cluster[2,1,1024]: a standalone master and two workers inside
 * this JVM, each starting an executor process). Runs in a JVM of its own (a second surefire execution): one
 * SparkContext per JVM, and the other classes share a local[2] one.
 *
 * <p>The workers start executors the way a Spark distribution does, from a Spark home; Maven has none, so the test
 * makes a stand-in: an empty jars/ folder, the launcher/target/scala-2.13 folder by which Spark's launcher tells the
 * Scala version of a build, and this JVM's class path handed to the executors as spark.executor.extraClassPath.
 */
class LocalClusterTest {
    @Test
    void twoExecutorJvmsGiveTheSingleProcessLossCurve(@TempDir Path tmp) throws Exception {
        DataParallelTest.data(tmp);
        double[] single = DataParallelTest.train(null, tmp.resolve("single"), 0, false, 0);
        Path home = tmp.resolve("spark-home");
        Files.createDirectories(home.resolve("jars"));
        Files.createDirectories(home.resolve("launcher/target/scala-2.13"));
        System.setProperty("spark.testing", "true");  // the worker reads these two as system properties
        System.setProperty("spark.test.home", home.toString());
        SparkSession s = SparkSession.builder().master("local-cluster[2,1,1024]").appName("cottention-local-cluster-test")
                .config("spark.executor.extraClassPath", System.getProperty("java.class.path"))
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
        try {
            JavaSparkContext sc = JavaSparkContext.fromSparkContext(s.sparkContext());
            long pids = sc.parallelize(List.of(0, 1, 2, 3), 4).map(i -> ProcessHandle.current().pid()).distinct().count();
            assertTrue(pids >= 2, "tasks ran in two executor JVMs: " + pids);
            double[] two = DataParallelTest.train(sc, tmp.resolve("two"), 2, false, 0);
            for (int i = 0; i < single.length; i++)
                assertEquals(single[i], two[i], 1e-5 * Math.abs(single[i]), "step " + (i + 1));
        } finally {
            s.stop();
        }
    }
}
