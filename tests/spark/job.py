"""A small Spark job over alluxio:// for Lode's compute-engine test and bench.

It reads a folder of CSV files (id,category,amount) through Alluxio's Hadoop client, totals the
amounts per category, writes the totals as Parquet back through alluxio://, and reads them back.
It prints what a test checks, one fact per line:

    READ <rows>                      after the input was read whole (then --pause-file applies)
    ALLUXIO <category> <rows> <sum>  the totals read back through alluxio://, by category
    FILE <name> <bytes>              each file of the output folder, as the client lists it
    UFS <category> <rows> <sum>      with --ufs-output: the totals read straight from the UFS
    SECONDS <s>                      read, aggregate, write and read back (not JVM start-up)

With --ufs-output (the output folder's local path in a local-folder UFS) it waits until every
listed file is in the UFS with its length (Alluxio's default write type persists them after the
job) and reads them from there without Alluxio.
"""

import argparse
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", required=True, help="Alluxio's shaded client jar")
    parser.add_argument("--input", required=True, help="alluxio:// folder of CSV files")
    parser.add_argument("--output", required=True, help="alluxio:// folder for the Parquet")
    parser.add_argument("--ufs-output", help="the output folder's path in a local-folder UFS")
    parser.add_argument("--pause-file", help="after READ, wait until this file exists")
    parser.add_argument("--define", action="append", default=[], help="an Alluxio KEY=VALUE")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for each wait")
    args = parser.parse_args()

    java_options = " ".join(f"-D{define}" for define in args.define)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("lode-spark-job")
        .config("spark.driver.extraClassPath", args.jar)
        .config("spark.executor.extraClassPath", args.jar)
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.hadoop.fs.alluxio.impl", "alluxio.hadoop.FileSystem")
        # Everything on loopback, and no web UI port.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    started = time.monotonic()

    schema = "id LONG, category STRING, amount LONG"
    sales = spark.read.csv(args.input, header=True, schema=schema)
    print(f"READ {sales.count()}", flush=True)
    if args.pause_file:
        wait_for(lambda: os.path.exists(args.pause_file), args.timeout, args.pause_file)

    totals = sales.groupBy("category").agg(F.count("*").alias("rows"), F.sum("amount").alias("sum"))
    totals.write.mode("overwrite").parquet(args.output)
    print_totals("ALLUXIO", spark.read.parquet(args.output))
    seconds = time.monotonic() - started

    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(args.output)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    files = {status.getPath().getName(): status.getLen() for status in fs.listStatus(path)}
    for name, length in sorted(files.items()):
        print(f"FILE {name} {length}", flush=True)

    if args.ufs_output:
        def persisted():
            on_disk = os.path.join(args.ufs_output, "%s")
            return all(
                os.path.isfile(on_disk % name) and os.path.getsize(on_disk % name) == length
                for name, length in files.items()
            )

        wait_for(persisted, args.timeout, f"the output persisted in {args.ufs_output}")
        print_totals("UFS", spark.read.parquet("file://" + os.path.abspath(args.ufs_output)))
    print(f"SECONDS {seconds:.3f}", flush=True)
    spark.stop()


def print_totals(source, frame):
    for row in frame.orderBy("category").collect():
        print(f"{source} {row['category']} {row['rows']} {row['sum']}", flush=True)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
