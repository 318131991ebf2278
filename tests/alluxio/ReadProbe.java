import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Reads whole files through Hadoop's FileSystem API, one per line of standard input (any URI
 * Hadoop resolves: file:///..., alluxio://...), and prints "read <bytes> <nanoseconds>" after
 * each: the read bench times a cold read through alluxio:// beside a direct read of the UFS in
 * one JVM, so start-up and JIT warm-up are nobody's cost, and drops the page cache in between.
 */
public final class ReadProbe {
  public static void main(String[] args) throws Exception {
    Configuration conf = new Configuration();
    conf.set("fs.alluxio.impl", "alluxio.hadoop.FileSystem");
    byte[] buffer = new byte[4 << 20];
    BufferedReader lines = new BufferedReader(new InputStreamReader(System.in));
    for (String uri; (uri = lines.readLine()) != null; ) {
      Path path = new Path(uri.trim());
      FileSystem fs = path.getFileSystem(conf);
      long started = System.nanoTime();
      long bytes = 0;
      try (InputStream in = fs.open(path)) {
        for (int n; (n = in.read(buffer)) > 0; ) {
          bytes += n;
        }
      }
      System.out.println("read " + bytes + " " + (System.nanoTime() - started));
      System.out.flush();
    }
  }
}
