package org.cottention.spark;

import org.apache.spark.sql.SparkSession;

/** One local[2] session for every test class of the module (starting Spark costs seconds; surefire runs them in one JVM). */
final class SharedSpark {
    private static SparkSession session;

    private SharedSpark() {}

    static synchronized SparkSession get() {
        if (session == null) {
            long t0 = System.nanoTime();
            session = SparkSession.builder().master("local[2]").appName("cottention-spark-tests")
                    .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
                    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
            System.err.printf("local[2] Spark session started in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        }
        return session;
    }
}
